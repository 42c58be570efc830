package io.instructflow.inference;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** SHA-256 of model files, computed once per file version per JVM (a model file can be gigabytes). */
public final class ModelFiles {
  private record Version(Path path, long size, FileTime modified) {}

  private static final Map<Version, String> HASHES = new ConcurrentHashMap<>();

  private ModelFiles() {}

  /** Hex SHA-256 of a file's content. */
  public static String sha256(Path file) {
    try {
      Path p = file.toAbsolutePath().normalize();
      Version v = new Version(p, Files.size(p), Files.getLastModifiedTime(p));
      return HASHES.computeIfAbsent(v, x -> hash(x.path()));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static String hash(Path p) {
    try (InputStream in = new DigestInputStream(Files.newInputStream(p), MessageDigest.getInstance("SHA-256"))) {
      byte[] buf = new byte[1 << 20];
      while (in.read(buf) >= 0) {
        // reading feeds the digest
      }
      return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + p, e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
