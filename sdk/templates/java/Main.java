// {{name}}: an rtt driver (protocol 1, docs/drivers.md) in Java.
//
// The rtt.driver package beside this file is the SDK: framing, envelopes,
// fencing and durable two-phase transactions (JDK only). This file only picks
// the backend. DirBackend keeps each host's placements in
// <root>/<host>/placements.json; replace it with a class implementing
// rtt.driver.Backend that talks to your system. Build with ./build, check
// with: rtt driver test -- ./driver

import java.nio.file.Path;
import rtt.driver.DirBackend;
import rtt.driver.Driver;

public final class Main {
    private static final String NAME = "{{name}}";

    public static void main(String[] args) throws Exception {
        Path root = Driver.rootFromEnv(NAME, args);
        System.exit(new Driver(NAME, root, new DirBackend(root)).run());
    }
}
