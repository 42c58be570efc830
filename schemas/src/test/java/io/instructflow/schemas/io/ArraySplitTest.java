package io.instructflow.schemas.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The byte-level array splitter against Jackson's own parse of the whole file, on arrays far larger
 * than the parser's 64 KiB read buffer, so that elements, strings, escapes and brackets cross buffer
 * boundaries at every kind of byte.
 */
class ArraySplitTest {
  private static final String TRICKY = "\"\\{}[],:\n\t é中😀";

  @Test
  void largeArraysSplitExactlyAsJacksonParsesThem() throws Exception {
    for (long seed = 1; seed <= 6; seed++) {
      Random r = new Random(seed);
      ArrayNode arr = Json.mapper().createArrayNode();
      for (int i = 0; i < 1500; i++) {
        ObjectNode o = arr.addObject();
        o.put("instruction", "task " + i + " " + randomText(r, 1 + r.nextInt(120)));
        if (r.nextBoolean()) {
          o.put("output", randomText(r, r.nextInt(300)));
        }
        if (r.nextInt(5) == 0) {
          o.putArray("tags").add(randomText(r, 5)).addObject().put("k", "]}" + randomText(r, 3));
        }
      }
      String pretty = seed % 2 == 0 ? Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(arr) : arr.toString();
      byte[] bytes = pretty.getBytes(StandardCharsets.UTF_8);
      List<String> got = new ArrayList<>();
      List<String> rejects = new ArrayList<>();
      RecordStreamParser p = new RecordStreamParser(new RecordConverter("d", "MIT"), Optional.empty(), 1 << 20, "big.json", "big.json");
      p.parse(new ByteArrayInputStream(bytes), new RecordStreamParser.Sink() {
        @Override
        public void example(Example e, long position, int sub) {
          got.add(position + " " + e.instruction() + " " + e.output() + " " + e.metadata());
        }

        @Override
        public void reject(Reject rj, long position) {
          rejects.add(rj.location() + " " + rj.message());
        }

        @Override
        public void blankLine(long line) {}
      });
      assertEquals(List.of(), rejects, "seed " + seed + ", " + bytes.length + " bytes");
      List<String> want = new ArrayList<>();
      for (int i = 0; i < arr.size(); i++) {
        JsonNode o = arr.get(i);
        want.add(i + " " + o.get("instruction").asText() + " " + (o.has("output") ? o.get("output").asText() : null) + " "
            + (o.has("tags") ? java.util.Map.of("tags", Json.mapper().convertValue(o.get("tags"), Object.class)) : java.util.Map.of()));
      }
      assertEquals(want, got, "seed " + seed);
    }
  }

  @Test
  void everySharedJsonArrayFileReadsCompletely() throws Exception {
    java.nio.file.Path corpora = java.nio.file.Paths.get(System.getProperty("instructflow.shared", "../../shared"), "data", "corpora");
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(corpora), "shared data not present");
    List<java.nio.file.Path> files;
    try (var s = java.nio.file.Files.walk(corpora)) {
      files = s.filter(f -> f.toString().endsWith(".json")).sorted().toList();
    }
    for (java.nio.file.Path f : files) {
      int expected = Json.mapper().readTree(f.toFile()).size();
      int[] n = new int[2];
      RecordStreamParser p = new RecordStreamParser(new RecordConverter("d", "MIT"), Optional.empty(), 1 << 24, f.toString(),
          f.getFileName().toString());
      try (var in = java.nio.file.Files.newInputStream(f)) {
        p.parse(in, new RecordStreamParser.Sink() {
          @Override
          public void example(Example e, long position, int sub) {
            n[0]++;
          }

          @Override
          public void reject(Reject rj, long position) {
            n[1]++;
          }

          @Override
          public void blankLine(long line) {}
        });
      }
      assertEquals(expected, n[0] + n[1], f + ": every element is read");
      assertEquals(0, n[1], f + ": no element of a valid file is rejected");
    }
  }

  private static String randomText(Random r, int len) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < len; i++) {
      sb.append(r.nextInt(4) == 0 ? TRICKY.charAt(r.nextInt(TRICKY.length())) : (char) ('a' + r.nextInt(26)));
    }
    return sb.toString().replace("\ud83d", "x").replace("\ude00", "y");
  }
}
