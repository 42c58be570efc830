package io.instructflow.inference.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Reading llama.cpp's tools' outputs, in the forms this release prints (the tools themselves are not in CI). */
class PeerBenchTest {
  @Test
  void readsLlamaBenchJson() throws IOException {
    String out = "[\n  {\n    \"build_commit\": \"abc\",\n    \"n_prompt\": 512,\n    \"n_gen\": 0,\n"
        + "    \"avg_ns\": 344993000,\n    \"avg_ts\": 1484.012,\n    \"stddev_ts\": 3.1\n  }\n]\n";
    assertEquals(1484.012, PeerBench.avgTs(out), 1e-9);
    assertThrows(IOException.class, () -> PeerBench.avgTs("main: error: failed to load model\n"));
    assertThrows(IOException.class, () -> PeerBench.avgTs("[]"));
  }

  @Test
  void readsTheBatchedBenchLineOfEachSequenceCount() throws IOException {
    String out = "{\"n_kv_max\": 448, \"pp\": 32, \"tg\": 64, \"pl\": 1, \"t_pp\": 0.01, \"speed_pp\": 3200.0, "
        + "\"t_tg\": 0.017, \"speed_tg\": 3625.4, \"t\": 0.03, \"speed\": 3000.0}\n"
        + "{\"n_kv_max\": 448, \"pp\": 32, \"tg\": 64, \"pl\": 4, \"t_pp\": 0.02, \"speed_pp\": 6400.0, "
        + "\"t_tg\": 0.06, \"speed_tg\": 4115.0, \"t\": 0.08, \"speed\": 4000.0}\n";
    assertEquals(3625.4, PeerBench.speedTg(out, 1), 1e-9);
    assertEquals(4115.0, PeerBench.speedTg(out, 4), 1e-9);
    assertThrows(IOException.class, () -> PeerBench.speedTg(out, 8));
  }
}
