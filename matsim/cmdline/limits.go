package cmdline

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/flowsim/flowsim/matsim/engine"
)

// memoryLimit is the memory the driver may use: the cgroup's limit when one is set,
// else the machine's; 0 when neither can be read.
func memoryLimit() uint64 {
	var limit uint64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var sc = bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb, _ = strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				limit = kb << 10
			}
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (limit == 0 || v < limit) {
				limit = v
			}
		}
	}
	return limit
}

// checkDocuments rejects a run whose documents would not fit in memory: the limit
// is derived from the memory limit and engine.DriverBytesPerDoc.
func checkDocuments(test string, start, loops, crashPoints int, mem uint64) error {
	if mem == 0 {
		return nil
	}
	var n = engine.PlannedDocuments(test, start, loops, crashPoints)
	var max = float64(mem / engine.DriverBytesPerDoc)
	if n <= max {
		return nil
	}
	var what = fmt.Sprintf("--start %d", start)
	if test == "basic" || test == "delta" {
		what += fmt.Sprintf(" doubled over --loops %d", loops)
	}
	return UsageError("%s is about %.3g documents; the driver keeps ~%d B per document, and %.1f GiB of memory hold at most %.3g: lower --start",
		what, n, engine.DriverBytesPerDoc, float64(mem)/(1<<30), max)
}
