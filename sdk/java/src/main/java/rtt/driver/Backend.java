package rtt.driver;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * What a driver does on its own system. Every method may be called again for
 * the same transaction after a crash, so each must be idempotent.
 */
public interface Backend {
    /** Capabilities the driver needs (reported by Probe). */
    default List<String> capabilities() {
        return List.of(Driver.PLACEMENTS_WRITE);
    }

    /** Stages each host's full placements durably, applying nothing: null votes yes, a string is the reason for no. */
    String stage(String txn, String plan, Map<String, List<Placement>> hosts) throws IOException;

    /** Applies what {@code txn} staged on {@code hosts}. */
    void commit(String txn, List<String> hosts) throws IOException;

    /** Drops what {@code txn} staged on {@code hosts} (some may have nothing staged). */
    void abort(String txn, List<String> hosts) throws IOException;

    /** The placements in force on {@code host} (any order). */
    List<Placement> read(String host) throws IOException;

    /** Whether the driver can work. */
    default boolean healthy() {
        return true;
    }

    /**
     * Telemetry for Health (docs/telemetry.md): {@code "routes"} (a list of
     * {from, to, buckets: [{le_us, count}]} seen since the previous Health) and
     * {@code "queue_depth"}, either omitted; none by default.
     */
    default Map<String, Object> telemetry() {
        return Map.of();
    }
}
