package rtt.driver;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The shared protocol-1 vectors (sdk/vectors, README there) against this SDK,
 * with the JDK alone (no test framework to fetch):
 *
 * <pre>
 * javac -d out $(find src -name '*.java') &amp;&amp; java -cp out rtt.driver.VectorsTest ../vectors
 * </pre>
 *
 * It prints one line per vector file and "N passed, M failed", and exits 1 on a failure.
 */
public final class VectorsTest {
    /** A failed check. */
    static final class Failed extends Exception {
        private static final long serialVersionUID = 1L;

        Failed(String message) {
            super(message);
        }
    }

    private static void assertEquals(Object expected, Object actual, String what) throws Failed {
        if (!expected.equals(actual)) {
            throw new Failed(what + ": expected " + expected + ", got " + actual);
        }
    }

    private static void assertTrue(boolean ok, String what) throws Failed {
        if (!ok) {
            throw new Failed(what);
        }
    }

    public static void main(String[] args) throws Exception {
        Path vectors = Path.of(args.length > 0 ? args[0] : Path.of("..", "vectors").toString());
        Path scratch = Files.createTempDirectory("rtt-java-vectors");
        int passed = 0;
        int failed = 0;
        List<Path> files;
        try (Stream<Path> listing = Files.list(vectors)) {
            files = listing.filter(p -> p.toString().endsWith(".json")).sorted(Comparator.naturalOrder()).toList();
        }
        if (files.size() < 7) {
            System.out.println("the vectors are missing in " + vectors);
            System.exit(1);
        }
        for (int n = 0; n < files.size(); n++) {
            try {
                run(files.get(n), Files.createDirectory(scratch.resolve("v" + n)));
                System.out.println("ok    " + files.get(n).getFileName());
                passed++;
            } catch (Failed | Json.ParseError | IOException e) {
                System.out.println("FAIL  " + files.get(n).getFileName() + "\n      " + e.getMessage());
                failed++;
            }
        }
        try {
            telemetry(Files.createDirectory(scratch.resolve("telemetry")));
            System.out.println("ok    Health carries the backend's telemetry");
            passed++;
        } catch (Failed e) {
            System.out.println("FAIL  telemetry\n      " + e.getMessage());
            failed++;
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    /** Health carries a backend's telemetry and stays {"ok": true} without it. */
    static void telemetry(Path root) throws Failed, IOException, Refusal {
        Map<String, Object> route = Map.of("from", "a", "to", "b", "buckets", List.of(Map.of("le_us", 250L, "count", 7L)));
        Backend observed = new DirBackend(root) {
            @Override
            public Map<String, Object> telemetry() {
                return Map.of("routes", List.of(route), "queue_depth", 3L);
            }
        };
        Object answer = new Driver("t", root, observed).handle("Health", Map.of());
        assertEquals(Map.of("ok", true, "routes", List.of(route), "queue_depth", 3L), answer, "Health with telemetry");
        Object plain = new Driver("t", root, new DirBackend(root)).handle("Health", Map.of());
        assertEquals(Map.of("ok", true), plain, "Health without");
    }

    /** Equal JSON values, except that an expected error {"code": C} matches any error with code C and a message. */
    static boolean matches(Object expected, Object actual) {
        if (expected instanceof Map<?, ?> e) {
            if (!(actual instanceof Map<?, ?> a)) {
                return false;
            }
            if (e.size() == 1 && e.containsKey("code")) {
                return a.size() == 2 && e.get("code").equals(a.get("code"))
                        && a.get("message") instanceof String m && !m.isEmpty();
            }
            return e.size() == a.size() && e.entrySet().stream()
                    .allMatch(x -> a.containsKey(x.getKey()) && matches(x.getValue(), a.get(x.getKey())));
        }
        if (expected instanceof List<?> e) {
            if (!(actual instanceof List<?> a) || a.size() != e.size()) {
                return false;
            }
            for (int i = 0; i < e.size(); i++) {
                if (!matches(e.get(i), a.get(i))) {
                    return false;
                }
            }
            return true;
        }
        return expected.equals(actual);
    }

    private record Segment(ByteArrayOutputStream input, List<Object> expected, boolean[] oversized) {
    }

    /** One vector file, in a fresh root. */
    static void run(Path file, Path root) throws Failed, Json.ParseError, IOException {
        {
            Map<?, ?> vector = (Map<?, ?>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
            List<Segment> segments = new ArrayList<>();
            segments.add(new Segment(new ByteArrayOutputStream(), new ArrayList<>(), new boolean[1]));
            for (Object item : (List<?>) vector.get("steps")) {
                Map<?, ?> step = (Map<?, ?>) item;
                Segment segment = segments.get(segments.size() - 1);
                if (step.containsKey("restart")) {
                    segments.add(new Segment(new ByteArrayOutputStream(), new ArrayList<>(), new boolean[1]));
                } else if (step.containsKey("oversized_line")) {
                    segment.input().write("x".repeat(Driver.MAX_LINE + 1).getBytes(StandardCharsets.UTF_8));
                    segment.input().write('\n');
                    segment.oversized()[0] = true;
                } else {
                    String line = step.containsKey("request") ? Json.write(step.get("request")) : (String) step.get("line");
                    segment.input().write((line + "\n").getBytes(StandardCharsets.UTF_8));
                    segment.expected().add(step.get("response"));
                }
            }
            for (int index = 0; index < segments.size(); index++) {
                Segment segment = segments.get(index);
                Driver driver = new Driver("vectors", root, new DirBackend(root));
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                boolean failed = false;
                try {
                    driver.serve(new ByteArrayInputStream(segment.input().toByteArray()), out);
                } catch (Driver.FramingError e) {
                    failed = true;
                } catch (IOException e) {
                    throw new Failed(file + ": " + e);
                }
                assertEquals(segment.oversized()[0], failed, file + ": segment " + index);
                String text = out.toString(StandardCharsets.UTF_8);
                List<String> lines = text.isEmpty() ? List.of() : List.of(text.substring(0, text.length() - 1).split("\n", -1));
                assertEquals(segment.expected().size(), lines.size(), file + ": segment " + index + ": " + text);
                for (int i = 0; i < lines.size(); i++) {
                    Object actual = Json.parse(lines.get(i));
                    assertEquals(List.of("id", "result", "error"), List.copyOf(((Map<?, ?>) actual).keySet()), lines.get(i));
                    assertTrue(matches(segment.expected().get(i), actual),
                            file + ":\n  expected " + Json.write(segment.expected().get(i)) + "\n  actual   " + lines.get(i));
                }
            }
        }
    }
}
