package rtt.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Placements as files, in the layout of rtt's built-in dir driver:
 * {@code <root>/<host>/placements.json} holds {"plan", "placements"}; a stage
 * writes {@code placements.json.<txn>} beside it and a commit renames it into
 * place. Start from it, or replace it with calls to your own system.
 */
public class DirBackend implements Backend {
    private final Path root;

    public DirBackend(Path root) {
        this.root = root;
    }

    private Path staged(String host, String txn) {
        return root.resolve(host).resolve("placements.json." + txn);
    }

    @Override
    public String stage(String txn, String plan, Map<String, List<Placement>> hosts) throws IOException {
        for (Map.Entry<String, List<Placement>> entry : hosts.entrySet()) {
            Path dir = root.resolve(entry.getKey());
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir);
                Durable.sync(root);
            }
            Map<String, Object> file = new LinkedHashMap<>();
            file.put("plan", plan);
            file.put("placements", entry.getValue().stream().map(Placement::toJson).toList());
            Durable.writeSynced(staged(entry.getKey(), txn), Json.write(file) + "\n");
            Durable.sync(dir);
        }
        return null;
    }

    @Override
    public void commit(String txn, List<String> hosts) throws IOException {
        for (String host : hosts) {
            // Gone: renamed by a commit that crashed before its record.
            if (Files.exists(staged(host, txn))) {
                Files.move(staged(host, txn), root.resolve(host).resolve("placements.json"),
                        StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                Durable.sync(root.resolve(host));
            }
        }
    }

    @Override
    public void abort(String txn, List<String> hosts) throws IOException {
        for (String host : hosts) {
            if (Files.deleteIfExists(staged(host, txn))) {
                Durable.sync(root.resolve(host));
            }
        }
    }

    @Override
    public List<Placement> read(String host) throws IOException {
        List<Placement> out = new ArrayList<>();
        if (Durable.readJson(root.resolve(host).resolve("placements.json")) instanceof Map<?, ?> file
                && file.get("placements") instanceof List<?> rows) {
            for (Object row : rows) {
                Map<?, ?> r = (Map<?, ?>) row;
                out.add(new Placement((String) r.get("agent"), (Long) r.get("numa"), (Long) r.get("replicas")));
            }
        }
        return out;
    }

    @Override
    public boolean healthy() {
        return Files.isDirectory(root);
    }
}
