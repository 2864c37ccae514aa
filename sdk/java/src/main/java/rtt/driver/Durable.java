package rtt.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Durable small files: a fsynced temporary, a rename, a directory fsync. */
public final class Durable {
    private Durable() {
    }

    /** Fsyncs a file or a directory (so a rename or a new entry in it is durable). */
    public static void sync(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /** Writes and fsyncs a file in place. */
    public static void writeSynced(Path path, String text) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
            channel.force(true);
        }
    }

    /** Writes {@code value} as one line of JSON, atomically and durably. */
    public static void writeJson(Path path, Object value) throws IOException {
        Path temp = path.resolveSibling("." + path.getFileName() + ".tmp." + ProcessHandle.current().pid());
        writeSynced(temp, Json.write(value) + "\n");
        Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        sync(path.getParent());
    }

    /** Reads a JSON file; null when it does not exist. */
    public static Object readJson(Path path) throws IOException {
        if (!Files.exists(path)) {
            return null;
        }
        try {
            return Json.parse(Files.readString(path, StandardCharsets.UTF_8));
        } catch (Json.ParseError e) {
            throw new IOException("corrupt " + path + ": " + e.getMessage());
        }
    }
}
