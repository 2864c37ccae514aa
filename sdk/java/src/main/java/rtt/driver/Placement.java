package rtt.driver;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;

/** One placement row on a host. */
public record Placement(String agent, long numa, long replicas) {
    /** The protocol's order: by agent, then NUMA node, then replicas. */
    public static final Comparator<Placement> ORDER = Comparator.comparing(Placement::agent)
            .thenComparingLong(Placement::numa)
            .thenComparingLong(Placement::replicas);

    /** The wire form. */
    public Map<String, Object> toJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("agent", agent);
        out.put("numa", numa);
        out.put("replicas", replicas);
        return out;
    }
}
