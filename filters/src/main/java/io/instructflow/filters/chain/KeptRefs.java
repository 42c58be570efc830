package io.instructflow.filters.chain;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The id and location of every record a streaming rule kept, by ordinal: what a later drop's evidence
 * names ({@code matched_id}, {@code matched_location}). Stored as UTF-8 in 1 MiB pages with one
 * offset per record, about 12 bytes plus the two strings' bytes per record, instead of two
 * {@link String} objects (about 100 bytes more each) or the whole record.
 */
public final class KeptRefs {
  private static final int PAGE = 1 << 20;
  private byte[][] pages = new byte[4][];
  private int pageCount;
  private int used = PAGE;
  private long[] at = new long[1024];
  private int size;

  /** Adds a record's reference; returns its ordinal. */
  public int add(String id, String location) {
    byte[] a = id.getBytes(StandardCharsets.UTF_8);
    byte[] b = (location == null ? "" : location).getBytes(StandardCharsets.UTF_8);
    int len = 8 + a.length + b.length;
    byte[] page;
    if (len > PAGE) {
      // an entry larger than a page gets a page of its own
      page = newPage(len);
      used = len;
    } else {
      if (used + len > PAGE) {
        newPage(PAGE);
        used = 0;
      }
      page = pages[pageCount - 1];
    }
    int off = len > PAGE ? 0 : used;
    putInt(page, off, a.length);
    putInt(page, off + 4, b.length);
    System.arraycopy(a, 0, page, off + 8, a.length);
    System.arraycopy(b, 0, page, off + 8 + a.length, b.length);
    if (len <= PAGE) {
      used += len;
    }
    if (size == at.length) {
      at = Arrays.copyOf(at, size * 2);
    }
    at[size] = ((long) (pageCount - 1) << 32) | off;
    return size++;
  }

  private byte[] newPage(int bytes) {
    if (pageCount == pages.length) {
      pages = Arrays.copyOf(pages, pageCount * 2);
    }
    pages[pageCount] = new byte[bytes];
    return pages[pageCount++];
  }

  /** The id of record {@code ordinal}. */
  public String id(int ordinal) {
    byte[] p = pages[(int) (at[ordinal] >>> 32)];
    int off = (int) at[ordinal];
    return new String(p, off + 8, getInt(p, off), StandardCharsets.UTF_8);
  }

  /** The location of record {@code ordinal}. */
  public String location(int ordinal) {
    byte[] p = pages[(int) (at[ordinal] >>> 32)];
    int off = (int) at[ordinal];
    return new String(p, off + 8 + getInt(p, off), getInt(p, off + 4), StandardCharsets.UTF_8);
  }

  /** Records held. */
  public int size() {
    return size;
  }

  private static void putInt(byte[] p, int off, int v) {
    p[off] = (byte) (v >>> 24);
    p[off + 1] = (byte) (v >>> 16);
    p[off + 2] = (byte) (v >>> 8);
    p[off + 3] = (byte) v;
  }

  private static int getInt(byte[] p, int off) {
    return (p[off] & 0xff) << 24 | (p[off + 1] & 0xff) << 16 | (p[off + 2] & 0xff) << 8 | (p[off + 3] & 0xff);
  }
}
