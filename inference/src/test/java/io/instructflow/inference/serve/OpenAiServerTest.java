package io.instructflow.inference.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.ScriptedModel;
import io.instructflow.inference.Seeds;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.TestModels;
import io.instructflow.schemas.Json;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve} against hostile and odd requests, on the real engine and model: each gets its status, and serving goes on. */
class OpenAiServerTest {
  private static final String OK = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0}";

  @TempDir Path tmp;

  private static LlamaCppModel engine() throws Exception {
    return LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(256).withThreads(1));
  }

  private LlamaCppModel chatEngine() throws Exception {
    Path chatml = TestModels.withStringKey(TestModels.stories(), "tokenizer.chat_template", TestModels.CHATML,
        tmp.resolve("stories-chatml.gguf"));
    return LlamaCppModel.shared(LlamaCppModel.Config.of(chatml).withContextPerSlot(256).withThreads(1));
  }

  private static HttpResponse<String> post(HttpClient c, int port, String type, HttpRequest.BodyPublisher body) throws Exception {
    return post(c, port, "/v1/completions", type, null, body);
  }

  private static HttpResponse<String> post(HttpClient c, int port, String path, String type, String auth,
      HttpRequest.BodyPublisher body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(30)).POST(body);
    if (type != null) {
      b.header("Content-Type", type);
    }
    if (auth != null) {
      b.header("Authorization", auth);
    }
    return c.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> json(HttpClient c, int port, String path, String body) throws Exception {
    return post(c, port, path, "application/json", null, HttpRequest.BodyPublishers.ofString(body));
  }

  private static String code(HttpResponse<String> r) throws Exception {
    return code(r.body());
  }

  private static String code(String body) throws Exception {
    return Json.mapper().readTree(body).path("error").path("code").asText();
  }

  private static String text(HttpResponse<String> r) throws Exception {
    JsonNode c = Json.mapper().readTree(r.body()).path("choices").get(0);
    return c.has("message") ? c.path("message").path("content").asText() : c.path("text").asText();
  }

  /** A raw connection from a chosen loopback address (127.0.0.0/8 is all loopback on Linux: each is a client). */
  private static Socket connect(String from, int port) throws Exception {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(from, 0));
    s.connect(new InetSocketAddress("127.0.0.1", port));
    s.setSoTimeout(30_000);
    return s;
  }

  /** Everything the server sends until it closes. */
  private static String readAll(Socket s) throws Exception {
    InputStream in = s.getInputStream();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    in.transferTo(out);
    return out.toString(StandardCharsets.UTF_8);
  }

  private static int status(String response) {
    assertTrue(response.startsWith("HTTP/1.1 "), response);
    return Integer.parseInt(response.substring(9, 12));
  }

  private static String body(String response) {
    return response.substring(response.indexOf("\r\n\r\n") + 4);
  }

  @Test
  void hostileBodiesGetTheirStatusAndServingGoesOn() throws Exception {
    LlamaCppModel engine = engine();
    HttpClient c = HttpClient.newHttpClient();
    try (OpenAiServer s = new OpenAiServer(engine, "stories", "127.0.0.1", 0, 4);
        OpenAiServer chat = new OpenAiServer(chatEngine(), "stories", "127.0.0.1", 0, 4)) {
      int port = s.port();
      HttpResponse<String> good = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString(OK));
      assertEquals(200, good.statusCode(), good.body());

      HttpResponse<String> plain = post(c, port, "text/plain", HttpRequest.BodyPublishers.ofString(OK));
      assertEquals(415, plain.statusCode(), "a text/plain POST, as a web page can send without a preflight");
      assertEquals("unsupported_media_type", code(plain));
      assertEquals(415, post(c, port, null, HttpRequest.BodyPublishers.ofString(OK)).statusCode(), "no Content-Type");
      assertEquals(200, post(c, port, "application/json; charset=utf-8", HttpRequest.BodyPublishers.ofString(OK))
          .statusCode(), "a charset parameter is fine");

      HttpResponse<String> huge = post(c, port, "application/json",
          HttpRequest.BodyPublishers.ofByteArray(new byte[OpenAiServer.MAX_BODY_BYTES + 1024]));
      assertEquals(413, huge.statusCode());
      assertEquals("request_too_large", code(huge));

      HttpResponse<String> overflow = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString(
          "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2147483647}"));
      assertEquals(400, overflow.statusCode(), overflow.body());
      assertEquals("context_length_exceeded", code(overflow), "max_tokens + prompt in long: no wrap-around");

      assertEquals(200, json(c, chat.port(), "/v1/chat/completions", "{\"max_tokens\": 4, \"messages\": "
          + "[{\"role\": \"user\", \"content\": \"Hi\"}]}").statusCode(), "a valid chat body is served");
      // the odd and hostile bodies, each with its status and error code ("" for none)
      String[][] table = {
          {"/v1/completions", "{\"prompt\": ", "400", ""},
          {"/v1/completions", "[1, 2]", "400", ""},
          {"/v1/completions", "{\"prompt\": 42}", "400", ""},
          {"/v1/completions", "{\"prompt\": \"Hi\", \"seed\": 1.5}", "400", ""},
          {"/v1/completions", "{\"prompt\": \"Hi\", \"seed\": 18446744073709551616}", "400", ""},
          {"/v1/completions", "{\"prompt\": \"Hi\", \"stream\": \"yes\"}", "400", ""},
          {"/v1/completions", "{\"prompt\": \"Hi\", \"model\": \"gpt-4\"}", "404", "model_not_found"},
          {"/v1/chat/completions", "{\"messages\": []}", "400", ""},
          {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": null}]}", "400", ""},
          {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\"}]}", "400", ""},
          {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", "
              + "\"image_url\": {\"url\": \"http://x/y.png\"}}]}]}", "400", ""},
          {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", "
              + "\"text\": 7}]}]}", "400", ""},
          {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": {\"text\": \"hi\"}}]}", "400", ""},
          {"/v1/chat/completions", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "400", ""},
          {"/v1/embeddings", "{\"input\": \"hi\"}", "404", "not_found"},
      };
      for (String[] row : table) {
        // chat rows go to the model with a chat template, so that only the body can be at fault
        HttpResponse<String> r = json(c, row[0].contains("chat") ? chat.port() : port, row[0], row[1]);
        assertEquals(Integer.parseInt(row[2]), r.statusCode(), row[1] + " -> " + r.body());
        if (!row[3].isEmpty()) {
          assertEquals(row[3], code(r), row[1]);
        }
      }

      // request line and headers over 64 KiB: 431, before any body is read
      try (Socket raw = connect("127.0.0.1", port)) {
        raw.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(70_000)
            + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        String resp = readAll(raw);
        assertEquals(431, status(resp), resp);
        assertEquals("request_header_fields_too_large", code(body(resp)));
      }
      // a chunked body is read like any other
      try (Socket raw = connect("127.0.0.1", port)) {
        byte[] b = OK.getBytes(StandardCharsets.UTF_8);
        raw.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(10) + "\r\n" + OK.substring(0, 10) + "\r\n"
            + Integer.toHexString(b.length - 10) + "\r\n" + OK.substring(10) + "\r\n0\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8));
        String resp = readAll(raw);
        assertEquals(200, status(resp), resp);
        assertEquals(text(good), Json.mapper().readTree(body(resp)).path("choices").get(0).path("text").asText());
      }

      // Expect: 100-continue (curl sends it for large bodies) gets its interim answer, then the real one
      try (Socket raw = connect("127.0.0.1", port)) {
        OutputStream o = raw.getOutputStream();
        o.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + "Content-Length: " + OK.length() + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        o.flush();
        byte[] interim = raw.getInputStream().readNBytes("HTTP/1.1 100 Continue\r\n\r\n".length());
        assertEquals("HTTP/1.1 100 Continue\r\n\r\n", new String(interim, StandardCharsets.ISO_8859_1));
        o.write(OK.getBytes(StandardCharsets.UTF_8));
        assertEquals(200, status(readAll(raw)));
      }

      HttpResponse<String> after = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString(OK));
      assertEquals(200, after.statusCode(), "still serving");
      assertEquals(text(good), text(after), "and answering as before");
      assertTrue(s.served() >= 3);
    }
  }

  @Test
  void aKeyIsRequiredWhenSetAndNeededOffLoopback() throws Exception {
    LlamaCppModel engine = engine();
    IllegalArgumentException open = assertThrows(IllegalArgumentException.class,
        () -> new OpenAiServer(engine, "stories", "0.0.0.0", 0, 4));
    assertTrue(open.getMessage().contains("without an API key"), open.getMessage());

    HttpClient c = HttpClient.newHttpClient();
    OpenAiServer.Settings keyed = OpenAiServer.Settings.defaults(4).withApiKey("s3cret-k3y");
    try (OpenAiServer s = new OpenAiServer(engine, "stories", "0.0.0.0", 0, keyed)) {
      int port = s.port();
      HttpResponse<String> none = post(c, port, "/v1/completions", "application/json", null,
          HttpRequest.BodyPublishers.ofString(OK));
      assertEquals(401, none.statusCode());
      assertEquals("invalid_api_key", code(none));
      assertEquals("Bearer", none.headers().firstValue("WWW-Authenticate").orElse(""));
      assertEquals(401, post(c, port, "/v1/completions", "application/json", "Bearer s3cret-k3x",
          HttpRequest.BodyPublishers.ofString(OK)).statusCode(), "a wrong key");
      assertEquals(401, post(c, port, "/v1/completions", "application/json", "Basic czNjcmV0LWszeQ==",
          HttpRequest.BodyPublishers.ofString(OK)).statusCode(), "another scheme");
      HttpResponse<String> models = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/models"))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(401, models.statusCode(), "the model list needs the key too");
      assertEquals(401, post(c, port, "text/plain", HttpRequest.BodyPublishers.ofString(OK)).statusCode(),
          "the key is checked before anything else");

      HttpResponse<String> ok = post(c, port, "/v1/completions", "application/json", "Bearer s3cret-k3y",
          HttpRequest.BodyPublishers.ofString(OK));
      assertEquals(200, ok.statusCode(), ok.body());
      assertEquals(1, s.served(), "only the request with the key reached the model");
    }
  }

  @Test
  void contentPartsNullContentAnd64BitSeedsAreServed() throws Exception {
    LlamaCppModel engine = chatEngine();
    HttpClient c = HttpClient.newHttpClient();
    try (OpenAiServer s = new OpenAiServer(engine, "chat", "127.0.0.1", 0, 4)) {
      int port = s.port();
      String asString = "{\"max_tokens\": 12, \"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": "
          + "\"Tell me a story.\\nAbout a cat.\"}]}";
      String asParts = "{\"max_tokens\": 12, \"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": "
          + "[{\"type\": \"text\", \"text\": \"Tell me a story.\"}, {\"type\": \"text\", \"text\": \"About a cat.\"}]}]}";
      HttpResponse<String> a = json(c, port, "/v1/chat/completions", asString);
      HttpResponse<String> b = json(c, port, "/v1/chat/completions", asParts);
      assertEquals(200, a.statusCode(), a.body());
      assertEquals(200, b.statusCode(), b.body());
      assertFalse(text(a).isEmpty());
      assertEquals(text(a), text(b), "text parts are joined with a newline");
      assertEquals(Json.mapper().readTree(a.body()).path("usage"), Json.mapper().readTree(b.body()).path("usage"),
          "the same prompt tokens");

      // an assistant turn with null content (it called tools) is an empty turn, not the text "null"
      String nullTurn = "{\"max_tokens\": 12, \"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
          + "{\"role\": \"assistant\", \"content\": null}, {\"role\": \"user\", \"content\": \"Go on.\"}]}";
      HttpResponse<String> n = json(c, port, "/v1/chat/completions", nullTurn);
      HttpResponse<String> e = json(c, port, "/v1/chat/completions", nullTurn.replace("null", "\"\""));
      HttpResponse<String> word = json(c, port, "/v1/chat/completions", nullTurn.replace("null", "\"null\""));
      assertEquals(200, n.statusCode(), n.body());
      assertEquals(Json.mapper().readTree(e.body()).path("usage"), Json.mapper().readTree(n.body()).path("usage"));
      assertEquals(text(e), text(n));
      assertNotEquals(Json.mapper().readTree(word.body()).path("usage").path("prompt_tokens"),
          Json.mapper().readTree(n.body()).path("usage").path("prompt_tokens"), "the word null would be more tokens");
    }

    // seeds: OpenAI's 64-bit range, sampled text reproducible per seed
    try (OpenAiServer s = new OpenAiServer(engine(), "stories", "127.0.0.1", 0, 4)) {
      String big = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 16, \"temperature\": 1, \"seed\": 18446744073709551557}";
      HttpResponse<String> first = json(c, s.port(), "/v1/completions", big);
      HttpResponse<String> again = json(c, s.port(), "/v1/completions", big);
      assertEquals(200, first.statusCode(), first.body());
      assertEquals(text(first), text(again), "the same seed, the same sample");
      assertEquals(200, json(c, s.port(), "/v1/completions", big.replace("18446744073709551557", "-9223372036854775808"))
          .statusCode());
    }
  }

  @Test
  void seedsMapOntoTheEnginesRange() throws Exception {
    for (long small : new long[] {0, 1, 1234, Seeds.MAX}) {
      assertEquals(small, OpenAiServer.seed(Json.mapper().readTree(Long.toString(small))), "small seeds are used as given");
    }
    for (String big : new String[] {"2147483648", "9223372036854775807", "18446744073709551615", "-1",
        "-9223372036854775808"}) {
      long v = OpenAiServer.seed(Json.mapper().readTree(big));
      assertTrue(v >= 0 && v <= Seeds.MAX, big + " -> " + v);
      assertEquals(v, OpenAiServer.seed(Json.mapper().readTree(big)), "deterministic");
    }
    assertNotEquals(OpenAiServer.seed(Json.mapper().readTree("2147483648")),
        OpenAiServer.seed(Json.mapper().readTree("2147483649")));
    assertEquals(0, OpenAiServer.seed(Json.mapper().readTree("null")));
  }

  @Test
  void streamsServerSentEventsWithTheSameText() throws Exception {
    HttpClient c = HttpClient.newHttpClient();
    try (OpenAiServer s = new OpenAiServer(engine(), "stories", "127.0.0.1", 0, 4)) {
      String req = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 20, \"temperature\": 0, \"n\": 2, \"seed\": 3}";
      HttpResponse<String> whole = json(c, s.port(), "/v1/completions", req);
      HttpResponse<String> streamed = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
          + "/v1/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
          req.replace("}", ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}"))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, streamed.statusCode());
      assertTrue(streamed.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
      List<String> data = streamed.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6))
          .collect(Collectors.toList());
      assertEquals("[DONE]", data.get(data.size() - 1));
      StringBuilder[] texts = {new StringBuilder(), new StringBuilder()};
      String[] finish = new String[2];
      JsonNode usage = null;
      for (String d : data.subList(0, data.size() - 1)) {
        JsonNode ch = Json.mapper().readTree(d);
        assertEquals("text_completion", ch.path("object").asText());
        if (ch.has("usage")) {
          usage = ch.path("usage");
          continue;
        }
        JsonNode choice = ch.path("choices").get(0);
        int i = choice.path("index").asInt();
        texts[i].append(choice.path("text").asText());
        if (!choice.path("finish_reason").isNull()) {
          finish[i] = choice.path("finish_reason").asText();
        }
      }
      JsonNode w = Json.mapper().readTree(whole.body());
      for (int i = 0; i < 2; i++) {
        assertEquals(w.path("choices").get(i).path("text").asText(), texts[i].toString(), "choice " + i);
        assertEquals(w.path("choices").get(i).path("finish_reason").asText(), finish[i]);
      }
      assertEquals(w.path("usage"), usage);

      HttpResponse<String> chat = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
          + "/v1/chat/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers
          .ofString("{\"stream\": true, \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(400, chat.statusCode(), "errors before the first event are ordinary JSON errors: " + chat.body());
    }
  }

  @Test
  void aFullQueueGets503AndAClientOverItsShareGets429() throws Exception {
    // control flow only: a scripted model that holds its one worker until released
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    ScriptedModel held = new ScriptedModel("held", r -> {
      entered.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return GenerationResult.ok(r.id(), r.prompt(), 1, List.of(new Completion("done", FinishReason.STOP, 1)));
    });
    HttpClient c = HttpClient.newHttpClient();
    OpenAiServer.Settings one = new OpenAiServer.Settings(null, 1, 1, 3, 16, Duration.ofSeconds(20),
        Duration.ofSeconds(20));
    try (OpenAiServer s = new OpenAiServer(held, "held", "127.0.0.1", 0, one)) {
      int port = s.port();
      String req = "{\"prompt\": \"x\"}";
      CompletableFuture<HttpResponse<String>> running = c.sendAsync(HttpRequest.newBuilder(URI.create(
          "http://127.0.0.1:" + port + "/v1/completions")).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(req)).build(), HttpResponse.BodyHandlers.ofString());
      assertTrue(entered.await(30, TimeUnit.SECONDS));
      // the one queue place: a raw request that waits
      Socket queued = connect("127.0.0.4", port);
      OutputStream qo = queued.getOutputStream();
      qo.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
          + req.length() + "\r\n\r\n" + req).getBytes(StandardCharsets.UTF_8));
      qo.flush();
      // wait (no sleep) until the server has admitted it: a third request is then refused
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (s.admitted() < 2 && System.nanoTime() < until) {
        Thread.onSpinWait();
      }
      assertEquals(2, s.admitted());
      HttpResponse<String> full = json(c, port, "/v1/completions", req);
      assertEquals(503, full.statusCode(), full.body());
      assertEquals("queue_full", code(full));
      assertEquals("1", full.headers().firstValue("Retry-After").orElse(""));

      // per client: 3 connections from 127.0.0.2 are open, a fourth gets 429; another address is not affected
      List<Socket> idle = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        idle.add(connect("127.0.0.2", port));
      }
      try (Socket fourth = connect("127.0.0.2", port)) {
        String resp = readAll(fourth);
        assertEquals(429, status(resp), resp);
        assertTrue(resp.contains("Retry-After: 1"), resp);
        assertEquals("too_many_requests", code(body(resp)));
      }
      release.countDown();
      assertEquals(200, running.get(30, TimeUnit.SECONDS).statusCode());
      assertEquals(200, status(readAll(queued)));
      queued.close();
      try (Socket other = connect("127.0.0.3", port)) {
        other.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: " + req.length() + "\r\n\r\n" + req).getBytes(StandardCharsets.UTF_8));
        assertEquals(200, status(readAll(other)), "another address is served while 127.0.0.2 holds its share");
      }
      for (Socket i : idle) {
        i.close();
      }
      assertEquals(1L, s.refusals().get("per_client"));
      assertTrue(s.refusals().get("queue_full") >= 1);
    }
  }

  /**
   * Clients that stall in their headers or their body, more of them than there are workers, and one
   * that sends a body over the cap: the others are served meanwhile, the same text as alone, and the
   * stalled ones get 408 at their deadline.
   */
  @Test
  void slowAndHugeClientsDoNotStopOthers() throws Exception {
    LlamaCppModel engine = engine();
    HttpClient c = HttpClient.newHttpClient();
    String alone;
    try (OpenAiServer s = new OpenAiServer(engine, "stories", "127.0.0.1", 0, 2)) {
      alone = text(json(c, s.port(), "/v1/completions", OK));
    }
    OpenAiServer.Settings two = new OpenAiServer.Settings(null, 2, 8, 32, 64, Duration.ofSeconds(3),
        Duration.ofSeconds(3));
    try (OpenAiServer s = new OpenAiServer(engine, "stories", "127.0.0.1", 0, two)) {
      int port = s.port();
      List<Socket> stalled = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        Socket h = connect("127.0.0.1", port);
        h.getOutputStream().write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Ty".getBytes(StandardCharsets.UTF_8));
        stalled.add(h);
        Socket b = connect("127.0.0.1", port);
        b.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: 1000\r\n\r\n{\"prompt\": \"Once").getBytes(StandardCharsets.UTF_8));
        stalled.add(b);
      }
      // and two that trickle: a byte every 100 ms, each read well within any per-read timeout, so only a
      // deadline for the whole headers (or body) cuts them off
      java.util.Map<Socket, Long> trickling = new java.util.HashMap<>();
      java.util.concurrent.ScheduledExecutorService pace = java.util.concurrent.Executors.newScheduledThreadPool(2);
      byte[][] trickles = {
          ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(1000)).getBytes(StandardCharsets.UTF_8),
          ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
              + " ".repeat(1000)).getBytes(StandardCharsets.UTF_8)};
      for (byte[] t : trickles) {
        Socket tr = connect("127.0.0.1", port);
        OutputStream o = tr.getOutputStream();
        boolean body = t[t.length - 1] == ' ';
        int upfront = body ? t.length - 1000 : t.length - 60;
        o.write(t, 0, upfront);
        o.flush();
        int[] at = {upfront};
        trickling.put(tr, System.nanoTime());
        pace.scheduleAtFixedRate(() -> {
          try {
            if (at[0] < t.length) {
              o.write(t[at[0]++]);
              o.flush();
            }
          } catch (java.io.IOException e) {
            throw new IllegalStateException("closed by the server", e);
          }
        }, 100, 100, TimeUnit.MILLISECONDS);
        stalled.add(tr);
      }
      CompletableFuture<HttpResponse<String>> huge = c.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + port + "/v1/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers
          .ofByteArray(new byte[3 * OpenAiServer.MAX_BODY_BYTES])).build(), HttpResponse.BodyHandlers.ofString());
      List<CompletableFuture<HttpResponse<String>>> others = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        others.add(c.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(OK)).build(),
            HttpResponse.BodyHandlers.ofString()));
      }
      for (CompletableFuture<HttpResponse<String>> f : others) {
        HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(alone, text(r), "the same text as served alone");
      }
      // the stalled and trickling clients have had no answer while the others were served (8 of them > 2 workers)
      for (Socket st : stalled) {
        assertEquals(0, st.getInputStream().available(), "no answer yet to a stalled client");
      }
      assertEquals(413, huge.get(60, TimeUnit.SECONDS).statusCode());
      for (Socket st : stalled) {
        String resp = readAll(st);
        assertEquals(408, status(resp), resp);
        Long since = trickling.get(st);
        if (since != null) {
          long ms = (System.nanoTime() - since) / 1_000_000;
          assertTrue(ms < 5_500, "a trickling client is cut off at its 3 s deadline, however steadily it sends: "
              + ms + " ms");
        }
        assertEquals("request_timeout", code(body(resp)));
        st.close();
      }
      pace.shutdownNow();
      assertEquals(8L, s.refusals().get("timeout"));
      assertEquals(200, json(c, port, "/v1/completions", OK).statusCode(), "still serving");
    }
  }

  @Test
  void logprobsAndEchoAreTheEnginesScores() throws Exception {
    LlamaCppModel engine = engine();
    HttpClient c = HttpClient.newHttpClient();
    try (OpenAiServer s = new OpenAiServer(engine, "stories", "127.0.0.1", 0, 4);
        OpenAiServer chat = new OpenAiServer(chatEngine(), "stories", "127.0.0.1", 0, 4)) {
      // a completion with logprobs: each generated token with its log-probability, as scoring gives it
      HttpResponse<String> r = json(c, s.port(), "/v1/completions",
          "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0, \"logprobs\": 3}");
      assertEquals(200, r.statusCode(), r.body());
      JsonNode ch = Json.mapper().readTree(r.body()).path("choices").get(0);
      String text = ch.path("text").asText();
      io.instructflow.inference.ScoreResult direct = engine.score(List.of(
          io.instructflow.inference.ScoreRequest.text("x", "Once upon a time", text).withTopLogprobs(3))).get(0);
      JsonNode l = ch.path("logprobs");
      assertEquals(direct.tokens().size(), l.path("tokens").size());
      StringBuilder joined = new StringBuilder();
      for (int k = 0; k < direct.tokens().size(); k++) {
        assertEquals(direct.tokens().get(k).token(), l.path("tokens").get(k).asText());
        assertEquals(direct.tokens().get(k).logprob(), l.path("token_logprobs").get(k).asDouble(), 1e-12);
        assertEquals(3, l.path("top_logprobs").get(k).size());
        joined.append(l.path("tokens").get(k).asText());
      }
      assertEquals(text, joined.toString(), "the tokens spell the text");
      // greedy: every generated token is the most likely one
      for (int k = 0; k < direct.tokens().size(); k++) {
        assertEquals(direct.tokens().get(k).logprob(), direct.tokens().get(k).top().get(0).logprob(), 1e-12);
      }
      // echo with max_tokens 0: the prompt's own log-probabilities, nothing generated
      HttpResponse<String> e = json(c, s.port(), "/v1/completions",
          "{\"prompt\": \"Lily and Tom 去公园玩。\", \"max_tokens\": 0, \"echo\": true, \"logprobs\": 0}");
      assertEquals(200, e.statusCode(), e.body());
      JsonNode ech = Json.mapper().readTree(e.body()).path("choices").get(0);
      assertEquals("Lily and Tom 去公园玩。", ech.path("text").asText());
      io.instructflow.inference.ScoreResult prompt = engine.score(List.of(
          io.instructflow.inference.ScoreRequest.text("p", "", "Lily and Tom 去公园玩。"))).get(0);
      assertEquals(prompt.tokens().size(), ech.path("logprobs").path("token_logprobs").size());
      assertEquals(prompt.logprob(), sum(ech.path("logprobs").path("token_logprobs")), 1e-9);
      assertTrue(ech.path("logprobs").path("top_logprobs").get(0).isNull());
      // chat: logprobs true and top_logprobs, OpenAI's content list with bytes
      HttpResponse<String> cr = json(c, chat.port(), "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", "
          + "\"content\": \"Hi\"}], \"max_tokens\": 6, \"temperature\": 0, \"logprobs\": true, \"top_logprobs\": 2}");
      assertEquals(200, cr.statusCode(), cr.body());
      JsonNode content = Json.mapper().readTree(cr.body()).path("choices").get(0).path("logprobs").path("content");
      assertTrue(content.size() > 0, cr.body());
      for (JsonNode t : content) {
        assertTrue(t.path("logprob").asDouble() <= 0);
        assertEquals(2, t.path("top_logprobs").size());
        assertTrue(t.path("bytes").isArray());
      }
      // the OpenAI client scores through echo: the same numbers as the engine's own scoring
      io.instructflow.inference.openai.OpenAiModel remote = new io.instructflow.inference.openai.OpenAiModel(
          io.instructflow.inference.openai.OpenAiModel.Config.of("http://127.0.0.1:" + s.port() + "/v1", "stories"));
      List<io.instructflow.inference.ScoreRequest> reqs = List.of(
          io.instructflow.inference.ScoreRequest.text("a", "Once upon a time", " there was a big dog.").withTopLogprobs(2),
          io.instructflow.inference.ScoreRequest.text("b", "Tom saw", " a cat, ü and é, and smiled."),
          io.instructflow.inference.ScoreRequest.text("c", "", "Lily ran."),
          io.instructflow.inference.ScoreRequest.chat("d", List.of(new io.instructflow.schemas.Message("user", "Hi")), "x"));
      List<io.instructflow.inference.ScoreResult> viaHttp = remote.score(reqs);
      List<io.instructflow.inference.ScoreResult> local = engine.score(reqs.subList(0, 3));
      for (int i = 0; i < 3; i++) {
        assertTrue(viaHttp.get(i).ok(), viaHttp.get(i).error());
        assertEquals(local.get(i).tokens().size(), viaHttp.get(i).tokens().size(), reqs.get(i).id());
        assertEquals(local.get(i).logprob(), viaHttp.get(i).logprob(), 1e-9, reqs.get(i).id());
      }
      assertEquals(2, viaHttp.get(0).tokens().get(0).top().size());
      assertFalse(viaHttp.get(3).ok(), "chat scoring needs the embedded engine");
      // refused combinations
      assertEquals(400, json(c, s.port(), "/v1/completions", "{\"prompt\": \"a\", \"max_tokens\": 0}").statusCode());
      assertEquals(400, json(c, s.port(), "/v1/completions", "{\"prompt\": \"a\", \"logprobs\": 21}").statusCode());
      assertEquals(400, json(c, s.port(), "/v1/completions", "{\"prompt\": \"a\", \"logprobs\": 1, \"stream\": true}")
          .statusCode());
      assertEquals(400, json(c, chat.port(), "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", "
          + "\"content\": \"Hi\"}], \"top_logprobs\": 2}").statusCode());
    }
  }

  private static double sum(JsonNode values) {
    double t = 0;
    for (JsonNode v : values) {
      t += v.asDouble();
    }
    return t;
  }
}
