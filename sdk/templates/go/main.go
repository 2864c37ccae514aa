// {{name}}: an rtt driver (protocol 1, docs/drivers.md) in Go.
//
// The rttdriver package beside this file is the SDK: framing, envelopes,
// fencing and durable two-phase transactions. This file only picks the
// backend. DirBackend keeps each host's placements in
// <root>/<host>/placements.json; replace it with a type implementing
// rttdriver.Backend that talks to your system. Build with ./build, check
// with: rtt driver test -- ./driver
package main

import (
	"fmt"
	"os"

	"driver-{{name}}/rttdriver"
)

const name = "{{name}}"

func main() {
	root := rttdriver.RootFromEnv(name)
	driver, err := rttdriver.Open(name, root, rttdriver.NewDirBackend(root))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot start: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(rttdriver.Run(driver))
}
