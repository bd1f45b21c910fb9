package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robfig/cron/v3"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	var tm, err = time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		schedule, tz string
		wantErr      string
		// next is the first schedule time after 2026-03-28T12:00:00Z.
		next string
	}{
		{schedule: "0 2 * * *", next: "2026-03-29T02:00:00Z"},
		{schedule: "@daily", next: "2026-03-29T00:00:00Z"},
		{schedule: "@every 90m", next: "2026-03-28T13:30:00Z"},
		// 02:00 Paris on the night of the DST change (2026-03-29): 01:00 UTC... which does
		// not exist locally that night; robfig/cron skips to the next day, 00:00 UTC.
		{schedule: "0 2 * * *", tz: "Europe/Paris", next: "2026-03-30T00:00:00Z"},
		{schedule: "0 3 * * *", tz: "Europe/Paris", next: "2026-03-29T01:00:00Z"},
		{schedule: "61 2 * * *", wantErr: `spec.schedule "61 2 * * *"`},
		{schedule: "0 2 * *", wantErr: "expected exactly 5 fields"},
		{schedule: "0 2 * * *", tz: "Mars/Olympus", wantErr: `spec.timeZone "Mars/Olympus" is not a known time zone`},
		{schedule: "0 2 * * *", tz: "Local", wantErr: `spec.timeZone "Local"`},
		{schedule: "CRON_TZ=UTC 0 2 * * *", wantErr: "must not set TZ="},
		// Fields in range that name no date: Next would return the zero time.
		{schedule: "0 0 31 2 *", wantErr: `spec.schedule "0 0 31 2 *" never matches a date`},
		{schedule: "0 0 30 2 *", wantErr: "never matches a date"},
		{schedule: "0 0 31 4,6,9,11 *", wantErr: "never matches a date"},
		{schedule: "0 0 30-31 feb *", wantErr: "never matches a date"},
		{schedule: "0 0 29 2 *", next: "2028-02-29T00:00:00Z"},
		{schedule: "0 0 31 2 1", next: "2027-02-01T00:00:00Z"}, // a day of week too: either matches (Mondays of February)
	} {
		var spec = flowsimv1.MatSimSweepSpec{Schedule: tc.schedule}
		if tc.tz != "" {
			spec.TimeZone = ptr.To(tc.tz)
		}
		var sched, err = parseSchedule(&spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q in %q: error %v, want one containing %q", tc.schedule, tc.tz, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q in %q: %v", tc.schedule, tc.tz, err)
			continue
		}
		if got := sched.Next(mustTime(t, "2026-03-28T12:00:00Z")).UTC().Format(time.RFC3339); got != tc.next {
			t.Errorf("%q in %q: next %s, want %s", tc.schedule, tc.tz, got, tc.next)
		}
	}
}

func TestScheduleDue(t *testing.T) {
	var sched, err = parseSchedule(&flowsimv1.MatSimSweepSpec{Schedule: "0 2 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	type due struct {
		Latest, FirstMissed, LastMissed, Next string
		Missed                                int64
	}
	var f = func(tm time.Time) string {
		if tm.IsZero() {
			return ""
		}
		return tm.UTC().Format(time.RFC3339)
	}
	for _, tc := range []struct {
		name, earliest, now string
		want                due
	}{
		{"nothing due yet", "2026-03-01T03:00:00Z", "2026-03-02T01:59:59Z",
			due{Next: "2026-03-02T02:00:00Z"}},
		{"due now", "2026-03-01T03:00:00Z", "2026-03-02T02:00:00Z",
			due{Latest: "2026-03-02T02:00:00Z", Next: "2026-03-03T02:00:00Z"}},
		{"one day of downtime: one due, none missed", "2026-03-01T02:00:00Z", "2026-03-02T09:00:00Z",
			due{Latest: "2026-03-02T02:00:00Z", Next: "2026-03-03T02:00:00Z"}},
		{"a week of downtime: the latest due, six missed", "2026-03-01T02:00:00Z", "2026-03-08T09:00:00Z",
			due{Latest: "2026-03-08T02:00:00Z", FirstMissed: "2026-03-02T02:00:00Z", LastMissed: "2026-03-07T02:00:00Z", Next: "2026-03-09T02:00:00Z", Missed: 6}},
	} {
		var d = scheduleDue(sched, mustTime(t, tc.earliest), mustTime(t, tc.now))
		var got = due{f(d.latest), f(d.firstMissed), f(d.lastMissed), f(d.next), d.missed}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	// Years of downtime on a per-minute schedule: bounded work, the latest minute due.
	every, _ := parseSchedule(&flowsimv1.MatSimSweepSpec{Schedule: "* * * * *"})
	var start = time.Now()
	var d = scheduleDue(every, mustTime(t, "2020-01-01T00:00:00Z"), mustTime(t, "2026-01-01T00:00:30Z"))
	if f(d.latest) != "2026-01-01T00:00:00Z" || d.missed < 3_000_000 {
		t.Errorf("six years per minute: latest %s, missed %d; want 2026-01-01T00:00:00Z and about 3.15 million", f(d.latest), d.missed)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("six years per minute took %v", time.Since(start))
	}
}

// A schedule with no next time ends the walk instead of looping forever (the zero time
// is never after now).
func TestScheduleDueNeverMatching(t *testing.T) {
	var sched, err = cron.ParseStandard("0 0 31 2 *")
	if err != nil {
		t.Fatal(err)
	}
	var done = make(chan dueSchedule, 1)
	go func() {
		done <- scheduleDue(sched, mustTime(t, "2026-01-01T00:00:00Z"), mustTime(t, "2026-03-01T00:00:00Z"))
	}()
	select {
	case d := <-done:
		if !d.latest.IsZero() || !d.next.IsZero() || d.missed != 0 {
			t.Errorf("a schedule that never matches: %+v, want nothing due and no next time", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scheduleDue did not return for 0 0 31 2 * (the walk loops on the zero time)")
	}
}

func TestTooLate(t *testing.T) {
	var spec = flowsimv1.MatSimSweepSpec{}
	var at = mustTime(t, "2026-03-02T02:00:00Z")
	if tooLate(&spec, at, at.Add(48*time.Hour)) {
		t.Error("no startingDeadlineSeconds: never too late")
	}
	spec.StartingDeadlineSeconds = ptr.To[int64](300)
	if tooLate(&spec, at, at.Add(300*time.Second)) || !tooLate(&spec, at, at.Add(301*time.Second)) {
		t.Error("startingDeadlineSeconds 300: on time at +300s, too late at +301s")
	}
}
