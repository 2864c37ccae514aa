package rtt.driver;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * An rtt driver (protocol 1, SPEC section 8, docs/drivers.md): line framing
 * with the 1 MiB cap, the envelopes, fencing by epoch, granted hosts and
 * capabilities, and durable two-phase transactions, over a {@link Backend}
 * that knows the real system.
 *
 * <pre>{@code
 * Path root = Driver.rootFromEnv("my-driver", args);
 * System.exit(new Driver("my-driver", root, new DirBackend(root)).run());
 * }</pre>
 *
 * <p>The same engine exists in every SDK; sdk/vectors holds the exchanges all
 * of them answer alike. Checks run in one order: parameters parse
 * (bad_request), a Tx has a session (not_open), the epoch is not below the
 * highest seen (stale_epoch; a higher one is made durable first), the
 * capability and hosts were granted (capability_denied), then the
 * transaction's state decides. The journal ({@code <root>/.rtt-driver/})
 * holds the highest epoch and a record per transaction: preparing, prepared,
 * committed or aborted.
 */
public final class Driver {
    public static final int PROTOCOL = 1;
    public static final int MAX_LINE = 1 << 20;
    public static final String PLACEMENTS_WRITE = "placements.write";
    public static final String JOURNAL_DIR = ".rtt-driver";

    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");
    private static final Set<String> METHODS = Set.of("Probe", "Open", "Tx", "Rx", "Health", "Close");
    private static final long MAX_U32 = 4294967295L;

    private final String name;
    private final Backend backend;
    private final Path journal;
    private long epoch;
    private Session session;

    private record Session(String plan, List<String> capabilities, List<String> hosts) {
    }

    /** The input broke the framing (a line over the cap, not UTF-8, cut off); the session ends. */
    public static final class FramingError extends IOException {
        private static final long serialVersionUID = 1L;

        FramingError(String message) {
            super(message);
        }
    }

    /** Opens the journal under {@code root} (created if missing) and reads the highest epoch seen. */
    public Driver(String name, Path root, Backend backend) throws IOException {
        this.name = name;
        this.backend = backend;
        this.journal = root.resolve(JOURNAL_DIR);
        Files.createDirectories(journal.resolve("txns"));
        Object saved = Durable.readJson(journal.resolve("epoch.json"));
        this.epoch = saved instanceof Map<?, ?> m && m.get("epoch") instanceof Long e ? e : 0;
    }

    // --- parameters -------------------------------------------------------------

    private static String string(Map<String, Object> params, String key) throws Refusal {
        if (params.get(key) instanceof String s) {
            return s;
        }
        throw Refusal.bad("`" + key + "` must be a string");
    }

    private static boolean isUint(Object value, long max) {
        return value instanceof Long n && n >= 0 && n <= max;
    }

    private static long epochOf(Map<String, Object> params) throws Refusal {
        if (isUint(params.get("epoch"), Long.MAX_VALUE)) {
            return (Long) params.get("epoch");
        }
        // Above Long.MAX_VALUE: an epoch no coordinator reaches; refused like any bad one.
        throw Refusal.bad("`epoch` must be a non-negative integer");
    }

    private static List<String> strings(Map<String, Object> params, String key) throws Refusal {
        List<String> out = new ArrayList<>();
        if (params.get(key) instanceof List<?> items) {
            for (Object item : items) {
                if (!(item instanceof String s)) {
                    throw Refusal.bad("`" + key + "` must be an array of strings");
                }
                out.add(s);
            }
            return out;
        }
        throw Refusal.bad("`" + key + "` must be an array of strings");
    }

    private static String safe(String what, String name) throws Refusal {
        if (!SAFE.matcher(name).matches()) {
            throw Refusal.bad(what + " \"" + name + "\" is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})");
        }
        return name;
    }

    private static List<String> names(Map<String, Object> params, String key, String what) throws Refusal {
        List<String> out = strings(params, key);
        for (String n : out) {
            safe(what, n);
        }
        return out;
    }

    private static Map<String, List<Placement>> placements(Map<String, Object> params) throws Refusal {
        if (!(params.get("hosts") instanceof Map<?, ?> hosts)) {
            throw Refusal.bad("`hosts` must be an object");
        }
        Map<String, List<Placement>> out = new TreeMap<>();
        for (Map.Entry<?, ?> entry : hosts.entrySet()) {
            String host = safe("host", (String) entry.getKey());
            if (!(entry.getValue() instanceof List<?> rows)) {
                throw Refusal.bad("placements of " + host + " must be an array");
            }
            List<Placement> parsed = new ArrayList<>();
            for (Object row : rows) {
                if (!(row instanceof Map<?, ?> r && r.get("agent") instanceof String agent && isUint(r.get("numa"), MAX_U32)
                        && isUint(r.get("replicas"), MAX_U32))) {
                    throw Refusal.bad("a placement of " + host
                            + " must be {\"agent\": string, \"numa\": integer >= 0, \"replicas\": integer >= 0}");
                }
                parsed.add(new Placement(agent, (Long) r.get("numa"), (Long) r.get("replicas")));
            }
            parsed.sort(Placement.ORDER);
            out.put(host, parsed);
        }
        return out;
    }

    private static Map<String, Object> obj(Object... pairs) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            out.put((String) pairs[i], pairs[i + 1]);
        }
        return out;
    }

    // --- the engine -------------------------------------------------------------

    private void fence(long e) throws Refusal, IOException {
        if (e < epoch) {
            throw new Refusal("stale_epoch", "epoch " + e + " is below " + epoch + ": a newer coordinator has taken over");
        }
        if (e > epoch) {
            Durable.writeJson(journal.resolve("epoch.json"), obj("epoch", e));
            epoch = e;
        }
    }

    private void granted(String host) throws Refusal {
        if (!session.hosts().contains(host)) {
            throw new Refusal("capability_denied", "host `" + host + "` was not granted");
        }
    }

    private Path recordPath(String txn) {
        return journal.resolve("txns").resolve(txn + ".json");
    }

    /** Answers one request: a result object, or a refusal. */
    public Object handle(String method, Map<String, Object> params) throws Refusal, IOException {
        switch (method) {
            case "Probe":
                return obj("protocol", (long) PROTOCOL, "name", name, "capabilities", backend.capabilities(), "epoch", epoch);
            case "Open": {
                String plan = string(params, "plan");
                long e = epochOf(params);
                List<String> capabilities = strings(params, "capabilities");
                List<String> hosts = names(params, "hosts", "host");
                fence(e);
                session = new Session(plan, capabilities, hosts);
                return obj();
            }
            case "Tx":
                return tx(params);
            case "Rx": {
                List<String> hosts = names(params, "hosts", "host");
                if (session != null) {
                    for (String host : hosts) {
                        granted(host);
                    }
                }
                Map<String, Object> out = new LinkedHashMap<>();
                for (String host : hosts) {
                    List<Placement> rows = new ArrayList<>(backend.read(host));
                    rows.sort(Placement.ORDER);
                    out.put(host, rows.stream().map(Placement::toJson).toList());
                }
                return obj("hosts", out);
            }
            case "Health": {
                Map<String, Object> answer = obj("ok", backend.healthy());
                Map<String, Object> extra = backend.telemetry();
                if (extra.get("routes") instanceof List<?> routes && !routes.isEmpty()) {
                    answer.put("routes", routes);
                }
                if (extra.get("queue_depth") != null) {
                    answer.put("queue_depth", extra.get("queue_depth"));
                }
                return answer;
            }
            default: // Close
                return obj();
        }
    }

    private Object tx(Map<String, Object> params) throws Refusal, IOException {
        String phase = string(params, "phase");
        long e = epochOf(params);
        String txn = safe("txn", string(params, "txn"));
        if (!List.of("prepare", "commit", "abort").contains(phase)) {
            throw Refusal.bad("`phase` must be \"prepare\", \"commit\" or \"abort\", not \"" + phase + "\"");
        }
        Map<String, List<Placement>> hosts = phase.equals("prepare") ? placements(params) : null;
        if (session == null) {
            throw new Refusal("not_open", "Tx before Open");
        }
        fence(e);
        if (!session.capabilities().contains(PLACEMENTS_WRITE)) {
            throw new Refusal("capability_denied", "`" + PLACEMENTS_WRITE + "` was not granted");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> record = (Map<String, Object>) Durable.readJson(recordPath(txn));
        String state = record == null ? null : (String) record.get("state");
        switch (phase) {
            case "prepare": {
                for (String host : hosts.keySet()) {
                    granted(host);
                }
                if ("prepared".equals(state)) {
                    return obj("vote", "yes");
                }
                if ("committed".equals(state) || "aborted".equals(state)) {
                    throw new Refusal("txn_conflict", "transaction " + txn + " is already " + state);
                }
                Map<String, Object> next = obj("state", "preparing", "plan", session.plan(), "hosts",
                        new ArrayList<>(hosts.keySet()));
                Durable.writeJson(recordPath(txn), next);
                String reason = backend.stage(txn, session.plan(), hosts);
                if (reason != null) {
                    return obj("vote", "no", "reason", reason);
                }
                next.put("state", "prepared");
                Durable.writeJson(recordPath(txn), next);
                return obj("vote", "yes");
            }
            case "commit": {
                if (state == null || state.equals("preparing")) {
                    throw new Refusal("unknown_txn", "transaction " + txn + " was never prepared here");
                }
                if (state.equals("committed")) {
                    return obj();
                }
                if (state.equals("aborted")) {
                    throw new Refusal("txn_conflict", "transaction " + txn + " was aborted");
                }
                backend.commit(txn, hostsOf(record));
                record.put("state", "committed");
                Durable.writeJson(recordPath(txn), record);
                return obj();
            }
            default: {
                // Never prepared here: record the abort, so a late prepare cannot stage.
                if (record == null) {
                    record = obj("state", "preparing", "plan", "", "hosts", List.of());
                    state = "preparing";
                }
                if (state.equals("aborted")) {
                    return obj();
                }
                if (state.equals("committed")) {
                    throw new Refusal("txn_conflict", "transaction " + txn + " was committed");
                }
                backend.abort(txn, hostsOf(record));
                record.put("state", "aborted");
                Durable.writeJson(recordPath(txn), record);
                return obj();
            }
        }
    }

    private static List<String> hostsOf(Map<String, Object> record) {
        List<String> out = new ArrayList<>();
        if (record.get("hosts") instanceof List<?> hosts) {
            hosts.forEach(h -> out.add((String) h));
        }
        return out;
    }

    // --- the envelope and the loop ------------------------------------------------

    /** The response line (without its newline) to one request line, and whether it was Close. */
    public Map.Entry<String, Boolean> respond(String line) {
        Object request;
        try {
            request = Json.parse(line);
        } catch (Json.ParseError e) {
            return refuse("", "bad_request", "not JSON: " + e.getMessage());
        }
        if (!(request instanceof Map<?, ?> r)) {
            return refuse("", "bad_request", "a request must be a JSON object");
        }
        if (!(r.get("id") instanceof String id)) {
            return refuse("", "bad_request", "`id` must be a string");
        }
        if (!(r.get("method") instanceof String method)) {
            return refuse(id, "bad_request", "`method` must be a string");
        }
        if (!(r.get("params") instanceof Map<?, ?> params)) {
            return refuse(id, "bad_request", "`params` must be an object");
        }
        if (!METHODS.contains(method)) {
            return refuse(id, "unknown_method", "unknown method \"" + method + "\"");
        }
        try {
            @SuppressWarnings("unchecked")
            Object result = handle(method, (Map<String, Object>) params);
            return Map.entry(Json.write(obj("id", id, "result", result, "error", Json.NULL)), method.equals("Close"));
        } catch (Refusal refusal) {
            return refuse(id, refusal.code(), refusal.getMessage());
        } catch (IOException | RuntimeException e) {
            return refuse(id, "internal", String.valueOf(e.getMessage()));
        }
    }

    private static Map.Entry<String, Boolean> refuse(String id, String code, String message) {
        return Map.entry(Json.write(obj("id", id, "result", Json.NULL, "error", obj("code", code, "message", message))), false);
    }

    /** Reads one line (without its newline); null at a clean end of input. */
    static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true) {
            int b = in.read();
            if (b < 0) {
                if (line.size() == 0) {
                    return null;
                }
                throw new FramingError("input ended inside a line (" + line.size() + " bytes without a newline)");
            }
            if (b == '\n') {
                try {
                    return StandardCharsets.UTF_8.newDecoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(ByteBuffer.wrap(line.toByteArray()))
                            .toString();
                } catch (CharacterCodingException e) {
                    throw new FramingError("request line is not UTF-8");
                }
            }
            if (line.size() == MAX_LINE) {
                throw new FramingError("request line longer than " + MAX_LINE + " bytes");
            }
            line.write(b);
        }
    }

    /** Serves request lines from {@code in} until Close or the end of input. */
    public void serve(InputStream in, OutputStream out) throws IOException {
        String line;
        while ((line = readLine(in)) != null) {
            Map.Entry<String, Boolean> reply = respond(line);
            out.write((reply.getKey() + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            if (reply.getValue()) {
                return;
            }
        }
    }

    /** Serves stdin and stdout; returns the exit code. Logs go to stderr. */
    public int run() {
        try {
            serve(new java.io.BufferedInputStream(System.in, 1 << 16), System.out);
            return 0;
        } catch (IOException e) {
            System.err.println(name + ": stopping: " + e.getMessage());
            return 1;
        }
    }

    /** RTT_DRIVER_ROOT (set by rtt apply and rtt driver test), else --root DIR, else .rtt/drivers/NAME. */
    public static Path rootFromEnv(String name, String[] args) {
        String root = System.getenv("RTT_DRIVER_ROOT");
        if (root != null && !root.isEmpty()) {
            return Path.of(root);
        }
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--root")) {
                return Path.of(args[i + 1]);
            }
        }
        return Path.of(".rtt", "drivers", name);
    }
}
