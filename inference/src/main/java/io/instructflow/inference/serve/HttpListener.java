package io.instructflow.inference.serve;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP/1.1 side of {@code serve}: accepts connections, reads each request under deadlines, and
 * hands it to a {@link Handler}. One request per connection (every answer says
 * {@code Connection: close}), which keeps the accounting exact: a connection is a request.
 *
 * <p>Why not the JDK's {@code com.sun.net.httpserver}: it reads the request line and headers on its
 * executor's threads with no deadline of its own (its only timeouts are JVM-wide system properties),
 * so a client that trickles its headers holds a worker for as long as it likes (issue 21).
 *
 * <p>Limits, each answered without reading further:
 * <ul>
 *   <li>at most {@code maxConnections} connections are open; one more gets 503 with {@code Retry-After};
 *   <li>at most {@code perClient} of them come from one remote address; one more gets 429 with
 *       {@code Retry-After} (the server is not overloaded, that client is over its share, and clients
 *       back off on 429 as they do on 503);
 *   <li>the request line and headers must arrive within {@code headerTimeout} (and fit in
 *       {@value #MAX_HEADER_BYTES} bytes, else 431), the body within {@code bodyTimeout} from the end
 *       of the headers; past a deadline the connection gets 408 and is closed.
 * </ul>
 * A slow client therefore holds one connection slot (a thread blocked in a read, never a model
 * worker) for at most its timeout.
 */
final class HttpListener implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpListener.class);

  /** The most bytes of request line plus headers. */
  static final int MAX_HEADER_BYTES = 64 << 10;

  /** What the listener does with a request whose headers it has read. */
  interface Handler {
    void handle(Exchange ex) throws IOException;
  }

  /**
   * Connection limits.
   *
   * @param maxConnections most connections open at once
   * @param perClient most connections open at once from one remote address
   * @param headerTimeout time for the request line and headers
   * @param bodyTimeout time for the body, from the end of the headers
   */
  record Limits(int maxConnections, int perClient, Duration headerTimeout, Duration bodyTimeout) {
    Limits {
      if (maxConnections < 1 || perClient < 1) {
        throw new IllegalArgumentException("connection limits must be >= 1, got maxConnections " + maxConnections
            + ", perClient " + perClient);
      }
      if (headerTimeout.isNegative() || headerTimeout.isZero() || bodyTimeout.isNegative() || bodyTimeout.isZero()) {
        throw new IllegalArgumentException("timeouts must be positive, got header " + headerTimeout + ", body "
            + bodyTimeout);
      }
    }
  }

  private final ServerSocket socket;
  private final Limits limits;
  private final Handler handler;
  private final ExecutorService connections;
  private final ScheduledExecutorService closer;
  private final Semaphore open;
  private final Map<InetAddress, Integer> perClient = new HashMap<>();
  private final Thread acceptor;
  private final AtomicLong refusedBusy = new AtomicLong();
  private final AtomicLong refusedClient = new AtomicLong();
  private final AtomicLong timedOut = new AtomicLong();
  private volatile boolean closed;

  HttpListener(String host, int port, Limits limits, Handler handler) throws IOException {
    this.limits = limits;
    this.handler = handler;
    this.socket = new ServerSocket();
    socket.setReuseAddress(true);
    socket.bind(new InetSocketAddress(host, port), 128);
    this.open = new Semaphore(limits.maxConnections());
    AtomicInteger n = new AtomicInteger();
    // threads come and go with connections; the semaphore, not the pool, bounds them
    this.connections = Executors.newCachedThreadPool(r -> daemon(r, "serve-conn-" + n.incrementAndGet()));
    this.closer = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "serve-closer"));
    this.acceptor = daemon(this::accept, "serve-accept");
    acceptor.start();
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  int port() {
    return socket.getLocalPort();
  }

  /** Connections refused because {@code maxConnections} were open. */
  long refusedBusy() {
    return refusedBusy.get();
  }

  /** Connections refused because their address had {@code perClient} open. */
  long refusedClient() {
    return refusedClient.get();
  }

  /** Requests cut off by the header or body deadline. */
  long timedOut() {
    return timedOut.get();
  }

  private void accept() {
    while (!closed) {
      Socket s;
      try {
        s = socket.accept();
      } catch (IOException e) {
        if (!closed) {
          LOG.warn("accept failed: {}", e.toString());
        }
        continue;
      }
      InetAddress client = s.getInetAddress();
      if (!enter(client)) {
        refusedClient.incrementAndGet();
        refuse(s, 429, "Too Many Requests", "too many connections from " + client.getHostAddress() + " (at most "
            + limits.perClient() + " at once)", "too_many_requests");
        continue;
      }
      if (!open.tryAcquire()) {
        leave(client);
        refusedBusy.incrementAndGet();
        refuse(s, 503, "Service Unavailable", "server busy: " + limits.maxConnections() + " connections open",
            "server_busy");
        continue;
      }
      try {
        connections.execute(() -> serve(s, client));
      } catch (RuntimeException e) {
        open.release();
        leave(client);
        closeQuietly(s);
      }
    }
  }

  private synchronized boolean enter(InetAddress client) {
    int k = perClient.getOrDefault(client, 0);
    if (k >= limits.perClient()) {
      return false;
    }
    perClient.put(client, k + 1);
    return true;
  }

  private synchronized void leave(InetAddress client) {
    perClient.computeIfPresent(client, (a, k) -> k <= 1 ? null : k - 1);
  }

  /**
   * Answers a refused connection from the accepting thread without reading its request: the answer
   * is small (it fits the socket's send buffer, so the write does not block), the write side is shut,
   * and the socket is closed a little later, so that the client reads the answer rather than a reset.
   */
  private void refuse(Socket s, int status, String reason, String message, String code) {
    try {
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      byte[] body = OpenAiServer.errorBytes(message, "server_error", code);
      Map<String, String> headers = new LinkedHashMap<>();
      headers.put("Retry-After", "1");
      out.write(head(status, reason, "application/json", body.length, headers));
      out.write(body);
      out.flush();
      s.shutdownOutput();
      closer.schedule(() -> closeQuietly(s), 2, TimeUnit.SECONDS);
    } catch (IOException | RuntimeException e) {
      closeQuietly(s);
    }
  }

  private void serve(Socket s, InetAddress client) {
    try {
      s.setTcpNoDelay(true);
      Exchange ex;
      try {
        ex = Exchange.read(s, limits);
      } catch (SocketTimeoutException e) {
        timedOut.incrementAndGet();
        new Exchange(s, null, "", "", Map.of(), limits).sendError(408, "request headers not received within "
            + limits.headerTimeout().toMillis() + " ms", "invalid_request_error", "request_timeout");
        return;
      } catch (Exchange.BadRequest e) {
        new Exchange(s, null, "", "", Map.of(), limits).sendError(e.status, e.getMessage(),
            "invalid_request_error", e.code);
        return;
      }
      if (ex == null) {
        return; // closed before sending anything
      }
      try {
        handler.handle(ex);
      } catch (SocketTimeoutException e) {
        timedOut.incrementAndGet();
        if (!ex.responded()) {
          ex.sendError(408, "request body not received within " + limits.bodyTimeout().toMillis() + " ms",
              "invalid_request_error", "request_timeout");
        }
      }
    } catch (IOException | RuntimeException e) {
      // the client went away, or the handler failed after answering: nothing more to say on this socket
      LOG.debug("connection from {} ended: {}", client, e.toString());
    } finally {
      open.release();
      leave(client);
      closeQuietly(s);
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // already gone
    }
  }

  static byte[] head(int status, String reason, String contentType, long length, Map<String, String> extra) {
    StringBuilder b = new StringBuilder("HTTP/1.1 ").append(status).append(' ').append(reason).append("\r\n");
    b.append("Content-Type: ").append(contentType).append("\r\n");
    if (length >= 0) {
      b.append("Content-Length: ").append(length).append("\r\n");
    } else {
      b.append("Transfer-Encoding: chunked\r\n");
    }
    b.append("Connection: close\r\n");
    extra.forEach((k, v) -> b.append(k).append(": ").append(v).append("\r\n"));
    b.append("\r\n");
    return b.toString().getBytes(StandardCharsets.ISO_8859_1);
  }

  @Override
  public void close() {
    closed = true;
    try {
      socket.close();
    } catch (IOException e) {
      // closing anyway
    }
    // the port is released only when the accepting thread has left accept(): wait for it, so that a
    // server started next on the same port can bind it
    try {
      acceptor.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    connections.shutdownNow();
    closer.shutdownNow();
  }

  /**
   * One request: method, path, headers (names lower-cased), the body read on demand under the body
   * deadline, and the answer, written once.
   */
  static final class Exchange {
    /** A request the listener refuses before the handler sees it. */
    static final class BadRequest extends IOException {
      final int status;
      final String code;

      BadRequest(int status, String code, String message) {
        super(message);
        this.status = status;
        this.code = code;
      }
    }

    /** A body over the caller's cap; what was sent of it has been read and thrown away (up to a bound). */
    static final class TooLarge extends IOException {
      TooLarge(String message) {
        super(message);
      }
    }

    private final Socket socket;
    private final DeadlineStream in;
    private final String method;
    private final String path;
    private final Map<String, List<String>> headers;
    private final Limits limits;
    private boolean responded;

    private Exchange(Socket socket, DeadlineStream in, String method, String path, Map<String, List<String>> headers,
        Limits limits) {
      this.socket = socket;
      this.in = in;
      this.method = method;
      this.path = path;
      this.headers = headers;
      this.limits = limits;
    }

    /** Reads the request line and headers; null when the client closed without sending anything. */
    static Exchange read(Socket s, Limits limits) throws IOException {
      DeadlineStream raw = new DeadlineStream(s);
      raw.deadline(limits.headerTimeout());
      InputStream in = new BufferedInputStream(raw, 8192);
      ByteArrayOutputStream head = new ByteArrayOutputStream();
      int c;
      int crlf = 0;
      while (true) {
        c = in.read();
        if (c < 0) {
          if (head.size() == 0) {
            return null;
          }
          throw new BadRequest(400, null, "connection closed inside the request headers");
        }
        head.write(c);
        if (head.size() > MAX_HEADER_BYTES) {
          throw new BadRequest(431, "request_header_fields_too_large", "request line and headers are over "
              + MAX_HEADER_BYTES + " bytes");
        }
        crlf = (c == '\n') ? crlf + 1 : (c == '\r' ? crlf : 0);
        if (crlf == 2) {
          break;
        }
      }
      String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r?\n");
      String[] requestLine = lines[0].split(" ");
      if (requestLine.length != 3 || !requestLine[2].startsWith("HTTP/1.")) {
        throw new BadRequest(400, null, "bad request line");
      }
      Map<String, List<String>> headers = new HashMap<>();
      for (int i = 1; i < lines.length; i++) {
        if (lines[i].isEmpty()) {
          continue;
        }
        int colon = lines[i].indexOf(':');
        if (colon <= 0) {
          throw new BadRequest(400, null, "bad header line");
        }
        headers.computeIfAbsent(lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
            .add(lines[i].substring(colon + 1).strip());
      }
      String target = requestLine[1];
      int q = target.indexOf('?');
      String path = q < 0 ? target : target.substring(0, q);
      raw.pushBack(in);
      return new Exchange(s, raw, requestLine[0], path, headers, limits);
    }

    String method() {
      return method;
    }

    String path() {
      return path;
    }

    /** The first value of a header, or null. */
    String header(String name) {
      List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
      return v == null || v.isEmpty() ? null : v.get(0);
    }

    boolean responded() {
      return responded;
    }

    /**
     * Reads the whole body, under the body deadline ({@link SocketTimeoutException} past it).
     *
     * @param max most bytes accepted
     * @param drain most bytes read and thrown away from a body over {@code max}, so that a client still
     *     sending reads the refusal rather than a reset
     * @throws TooLarge when the body is over {@code max} bytes
     */
    byte[] body(int max, long drain) throws IOException {
      in.deadline(limits.bodyTimeout());
      String expect = header("Expect");
      if (expect != null && expect.equalsIgnoreCase("100-continue")) {
        // curl asks before sending a large body; the checks that need no body have passed
        OutputStream out = socket.getOutputStream();
        out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
      }
      String te = header("Transfer-Encoding");
      String cl = header("Content-Length");
      if (te != null) {
        if (!te.equalsIgnoreCase("chunked") || cl != null) {
          throw new BadRequest(400, null, "unsupported Transfer-Encoding '" + te + "'");
        }
        return chunked(max, drain);
      }
      if (cl == null) {
        return new byte[0];
      }
      if (!cl.matches("\\d{1,18}")) {
        throw new BadRequest(400, null, "bad Content-Length '" + cl + "'");
      }
      long length = Long.parseLong(cl);
      if (length > max) {
        skip(Math.min(length, drain));
        throw new TooLarge("request body of " + length + " bytes");
      }
      byte[] b = in.source().readNBytes((int) length);
      if (b.length < length) {
        throw new BadRequest(400, null, "body ended after " + b.length + " of " + length + " bytes");
      }
      return b;
    }

    private byte[] chunked(int max, long drain) throws IOException {
      InputStream s = in.source();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      long seen = 0;
      while (true) {
        String sizeLine = line(s);
        int semi = sizeLine.indexOf(';');
        long size;
        try {
          size = Long.parseLong((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).strip(), 16);
        } catch (NumberFormatException e) {
          throw new BadRequest(400, null, "bad chunk size '" + sizeLine + "'");
        }
        if (size < 0) {
          throw new BadRequest(400, null, "bad chunk size '" + sizeLine + "'");
        }
        if (size == 0) {
          while (!line(s).isEmpty()) {
            // trailers: ignored
          }
          return out.toByteArray();
        }
        seen += size;
        if (seen > max) {
          skip(Math.max(0, Math.min(size, drain - (seen - size))));
          throw new TooLarge("chunked request body");
        }
        byte[] b = s.readNBytes((int) size);
        if (b.length < size) {
          throw new BadRequest(400, null, "chunked body ended early");
        }
        out.write(b);
        line(s);
      }
    }

    private static String line(InputStream s) throws IOException {
      StringBuilder b = new StringBuilder();
      int c;
      while ((c = s.read()) >= 0 && c != '\n') {
        if (b.length() > 4096) {
          throw new BadRequest(400, null, "chunk line too long");
        }
        if (c != '\r') {
          b.append((char) c);
        }
      }
      if (c < 0) {
        throw new BadRequest(400, null, "chunked body ended early");
      }
      return b.toString();
    }

    private void skip(long n) {
      try {
        byte[] buf = new byte[1 << 16];
        long left = n;
        int k;
        while (left > 0 && (k = in.source().read(buf, 0, (int) Math.min(buf.length, left))) > 0) {
          left -= k;
        }
      } catch (IOException e) {
        // the client went away or stalled: the refusal is sent anyway
      }
    }

    /** Sends a whole answer. */
    void send(int status, String contentType, byte[] body, Map<String, String> extra) throws IOException {
      responded = true;
      OutputStream out = socket.getOutputStream();
      out.write(head(status, reason(status), contentType, body.length, extra));
      out.write(body);
      out.flush();
      socket.shutdownOutput();
    }

    /** Sends an OpenAI-shaped error. */
    void sendError(int status, String message, String type, String code) throws IOException {
      Map<String, String> extra = new LinkedHashMap<>();
      if (status == 503 || status == 429) {
        extra.put("Retry-After", "1");
      }
      if (status == 401) {
        extra.put("WWW-Authenticate", "Bearer");
      }
      send(status, "application/json", OpenAiServer.errorBytes(message, type, code), extra);
    }

    /** Starts a chunked answer; each write to the stream is one chunk, and closing it ends the answer. */
    OutputStream stream(int status, String contentType, Map<String, String> extra) throws IOException {
      responded = true;
      OutputStream raw = socket.getOutputStream();
      raw.write(head(status, reason(status), contentType, -1, extra));
      raw.flush();
      return new OutputStream() {
        @Override
        public void write(int b) throws IOException {
          write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          if (len == 0) {
            return;
          }
          raw.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
          raw.write(b, off, len);
          raw.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
          raw.flush();
        }

        @Override
        public void close() throws IOException {
          raw.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
          raw.flush();
          socket.shutdownOutput();
        }
      };
    }

    private static String reason(int status) {
      return switch (status) {
        case 200 -> "OK";
        case 400 -> "Bad Request";
        case 401 -> "Unauthorized";
        case 404 -> "Not Found";
        case 408 -> "Request Timeout";
        case 413 -> "Content Too Large";
        case 415 -> "Unsupported Media Type";
        case 429 -> "Too Many Requests";
        case 431 -> "Request Header Fields Too Large";
        case 503 -> "Service Unavailable";
        default -> status >= 500 ? "Server Error" : "Status";
      };
    }
  }

  /**
   * The socket's input with a deadline: each read waits at most until the deadline (a
   * {@link SocketTimeoutException} after it), however slowly the bytes come. After the headers the
   * buffered reader that read them is put in front, so that bytes it read ahead are not lost.
   */
  private static final class DeadlineStream extends FilterInputStream {
    private final Socket socket;
    private long deadlineNanos;
    private InputStream source = this;

    DeadlineStream(Socket s) throws IOException {
      super(s.getInputStream());
      this.socket = s;
    }

    void deadline(Duration d) {
      deadlineNanos = System.nanoTime() + d.toNanos();
    }

    void pushBack(InputStream buffered) {
      source = buffered;
    }

    InputStream source() {
      return source;
    }

    private void arm() throws IOException {
      long left = deadlineNanos - System.nanoTime();
      if (left <= 0) {
        throw new SocketTimeoutException("deadline passed");
      }
      socket.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(left))));
    }

    @Override
    public int read() throws IOException {
      arm();
      return super.read();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      arm();
      return super.read(b, off, len);
    }
  }
}
