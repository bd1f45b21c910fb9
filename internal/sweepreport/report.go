// Package sweepreport turns one execution of a MatSimSweep into reports for CI: JUnit XML
// (a testsuite per target, a testcase per test) and JSON. It reads only the API types: the
// sweep's status and the execution's MatSimRuns (the runs hold every result; the sweep's
// status keeps a bounded summary).
package sweepreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/flowsim/flowsim/lib/junit"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// Report is one sweep execution.
type Report struct {
	Sweep          string                    `json:"sweep"`
	Execution      string                    `json:"execution"`
	Trigger        string                    `json:"trigger,omitempty"`
	Phase          string                    `json:"phase,omitempty"`
	ScheduledTime  *time.Time                `json:"scheduledTime,omitempty"`
	StartTime      *time.Time                `json:"startTime,omitempty"`
	CompletionTime *time.Time                `json:"completionTime,omitempty"`
	Counts         flowsimv1.ExecutionCounts `json:"counts"`
	Targets        []Target                  `json:"targets"`
}

// Target is one MatSimTarget's runs in the execution.
type Target struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Tests     []Test `json:"tests"`
}

// Test is one run: a target × test.
type Test struct {
	Test     string  `json:"test"`
	Run      string  `json:"run,omitempty"`
	Outcome  string  `json:"outcome"`
	Reason   string  `json:"reason,omitempty"`
	Check    string  `json:"check,omitempty"`
	Message  string  `json:"message,omitempty"`
	Seed     *int64  `json:"seed,omitempty"`
	Protocol string  `json:"protocol,omitempty"`
	Image    string  `json:"image,omitempty"`
	Seconds  float64 `json:"durationSeconds,omitempty"`
}

// Build makes the report of execution from the sweep's status and runs, the MatSimRuns
// labelled flowsim.dev/execution=execution (other runs are ignored). Results the status
// has but no run has (queued, or ended because the target or namespace went away) are
// added from the status.
func Build(sweep *flowsimv1.MatSimSweep, execution string, runs []flowsimv1.MatSimRun) (Report, error) {
	var exec *flowsimv1.SweepExecution
	for _, list := range [][]flowsimv1.SweepExecution{sweep.Status.Active, sweep.Status.History} {
		for i := range list {
			if list[i].Name == execution {
				exec = &list[i]
			}
		}
	}
	var rep = Report{Sweep: sweep.Name, Execution: execution}
	if exec != nil {
		rep.Trigger, rep.Phase = string(exec.Trigger), string(exec.Phase)
		rep.ScheduledTime, rep.StartTime = ptrTime(exec.ScheduledTime.Time), ptrTime(exec.StartTime.Time)
		if exec.CompletionTime != nil {
			rep.CompletionTime = ptrTime(exec.CompletionTime.Time)
		}
	}

	var targets = map[[2]string]*Target{}
	var target = func(ns, name string) *Target {
		var k = [2]string{ns, name}
		if targets[k] == nil {
			targets[k] = &Target{Namespace: ns, Name: name}
		}
		return targets[k]
	}
	var seen = map[[3]string]bool{}
	var found bool
	for i := range runs {
		var run = &runs[i]
		var l = run.Labels
		if l[flowsimv1.LabelExecution] != execution || l[flowsimv1.LabelSweep] != sweep.Name {
			continue
		}
		found = true
		var t = target(run.Namespace, l[flowsimv1.LabelTarget])
		var tc = testFromRun(run)
		seen[[3]string{run.Namespace, t.Name, tc.Test}] = true
		t.Tests = append(t.Tests, tc)
	}
	if exec != nil {
		for _, r := range exec.Results {
			if seen[[3]string{r.Namespace, r.Target, string(r.Test)}] {
				continue
			}
			var t = target(r.Namespace, r.Target)
			var tc = Test{Test: string(r.Test), Run: r.Run, Outcome: r.Outcome, Reason: r.Reason,
				Check: r.Check, Message: r.Message, Seed: r.Seed}
			if r.Duration != nil {
				tc.Seconds = r.Duration.Seconds()
			}
			t.Tests = append(t.Tests, tc)
		}
	}
	if exec == nil && !found {
		return Report{}, fmt.Errorf("sweep %s has no execution %q in its status and no run labelled with it", sweep.Name, execution)
	}

	for _, t := range targets {
		sort.Slice(t.Tests, func(i, j int) bool { return t.Tests[i].Test < t.Tests[j].Test })
		rep.Targets = append(rep.Targets, *t)
	}
	sort.Slice(rep.Targets, func(i, j int) bool {
		var a, b = rep.Targets[i], rep.Targets[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	if exec != nil {
		rep.Counts = exec.Counts
	} else {
		rep.Counts = countTests(rep.Targets)
	}
	return rep, nil
}

func ptrTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// testFromRun is a run's outcome as the sweep judges it.
func testFromRun(run *flowsimv1.MatSimRun) Test {
	var st = &run.Status
	var tc = Test{Test: string(run.Spec.Test), Run: run.Name, Outcome: flowsimv1.Outcome(run), Reason: st.Reason,
		Seed: st.Seed, Image: run.Spec.Connector.Image}
	if r := st.Result; r != nil {
		tc.Check, tc.Message, tc.Protocol = r.Check, r.Message, r.Protocol
		tc.Seconds = r.Duration.Seconds()
	} else if st.Phase == flowsimv1.PhaseFailed {
		tc.Message = st.Message
	}
	if tc.Seconds == 0 && st.StartTime != nil && st.CompletionTime != nil {
		tc.Seconds = st.CompletionTime.Sub(st.StartTime.Time).Seconds()
	}
	return tc
}

func countTests(targets []Target) flowsimv1.ExecutionCounts {
	var c flowsimv1.ExecutionCounts
	for _, t := range targets {
		for _, tc := range t.Tests {
			c.Total++
			switch tc.Outcome {
			case flowsimv1.OutcomePassed:
				c.Passed++
			case flowsimv1.OutcomeFailed:
				c.Failed++
			case flowsimv1.OutcomeError:
				c.Error++
			case flowsimv1.OutcomeRunning:
				c.Running++
			case flowsimv1.OutcomeQueued:
				c.Queued++
			default:
				c.Pending++
			}
		}
	}
	return c
}

// JSON is the report, indented.
func (r Report) JSON() ([]byte, error) {
	var b, err = json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the JSON report: %w", err)
	}
	return append(b, '\n'), nil
}

// JUnit is the report as JUnit XML: a testsuite per target ("namespace/target"), a
// testcase per test; a failed check is a <failure> (type = the check), a run that could
// not judge the connector an <error> (type = the reason), an unfinished run <skipped>.
// Each testcase has the properties run, seed, protocol and image.
func (r Report) JUnit() ([]byte, error) {
	var all = junit.Suites{Name: r.Sweep + "/" + r.Execution}
	var total float64
	for _, t := range r.Targets {
		var s = junit.Suite{Name: t.Namespace + "/" + t.Name, Tests: len(t.Tests)}
		if r.StartTime != nil {
			s.Timestamp = r.StartTime.UTC().Format(time.RFC3339)
		}
		var secs float64
		for _, tc := range t.Tests {
			var c = junit.Case{Name: tc.Test, Classname: s.Name, Time: junit.Seconds(tc.Seconds)}
			c.Properties = properties(tc)
			var text = tc.Message
			if tc.Reason != "" {
				text = tc.Reason + ": " + text
			}
			switch tc.Outcome {
			case flowsimv1.OutcomePassed:
			case flowsimv1.OutcomeFailed:
				var check = tc.Check // empty when the connector crashed: the reason says so
				if check == "" {
					check = tc.Reason
				}
				c.Failure = &junit.Message{Message: firstLine(check + ": " + tc.Message), Type: check, Text: text}
				s.Failures++
			case flowsimv1.OutcomeError:
				c.Error = &junit.Message{Message: firstLine(tc.Reason + ": " + tc.Message), Type: tc.Reason, Text: text}
				s.Errors++
			default:
				c.Skipped = &junit.Message{Message: "run is " + tc.Outcome + " (the execution had not finished)"}
				s.Skipped++
			}
			secs += tc.Seconds
			s.Cases = append(s.Cases, c)
		}
		s.Time = junit.Seconds(secs)
		total += secs
		all.Add(s)
	}
	all.Time = junit.Seconds(total)
	var b bytes.Buffer
	if err := junit.Write(&b, &all); err != nil {
		return nil, fmt.Errorf("encoding the JUnit report: %w", err)
	}
	return b.Bytes(), nil
}

func properties(tc Test) []junit.Property {
	var p []junit.Property
	var add = func(k, v string) {
		if v != "" {
			p = append(p, junit.Property{Name: k, Value: v})
		}
	}
	add("run", tc.Run)
	if tc.Seed != nil {
		add("seed", strconv.FormatInt(*tc.Seed, 10))
	}
	add("protocol", tc.Protocol)
	add("image", tc.Image)
	return p
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
