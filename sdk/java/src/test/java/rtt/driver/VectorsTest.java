package rtt.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shared protocol-1 vectors (sdk/vectors, README there) against this SDK. */
class VectorsTest {
    private static Path vectors() {
        String dir = System.getenv("RTT_VECTORS");
        return dir != null && !dir.isEmpty() ? Path.of(dir) : Path.of("..", "vectors");
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

    @Test
    void everySharedVectorIsAnsweredAsWritten(@TempDir Path scratch) throws Exception {
        List<Path> files;
        try (Stream<Path> listing = Files.list(vectors())) {
            files = listing.filter(p -> p.toString().endsWith(".json")).sorted(Comparator.naturalOrder()).toList();
        }
        assertTrue(files.size() >= 7, "the vectors are missing");
        int n = 0;
        for (Path file : files) {
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
            Path root = Files.createDirectory(scratch.resolve("v" + n++));
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
                    fail(file + ": " + e);
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
