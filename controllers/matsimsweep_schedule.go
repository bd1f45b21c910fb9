package controllers

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// parseSchedule reads a sweep's schedule in its time zone (UTC when unset), as a CronJob
// does: the API server checked the shape, this checks ranges and the time zone.
func parseSchedule(spec *flowsimv1.MatSimSweepSpec) (cron.Schedule, error) {
	var tz = "UTC"
	if spec.TimeZone != nil {
		tz = *spec.TimeZone
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return nil, fmt.Errorf("spec.timeZone %q is not a known time zone", tz)
	}
	if strings.Contains(spec.Schedule, "TZ=") {
		return nil, fmt.Errorf("spec.schedule %q must not set TZ= or CRON_TZ= (use spec.timeZone)", spec.Schedule)
	}
	var sched, err = cron.ParseStandard("CRON_TZ=" + tz + " " + spec.Schedule)
	if err != nil {
		return nil, fmt.Errorf("spec.schedule %q: %w", spec.Schedule, err)
	}
	// A schedule of valid fields may name no date at all (0 0 31 2 *, 0 0 30-31 2 *):
	// Next then returns the zero time. The API server refuses the plain cases; this
	// catches the rest (ranges, steps).
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("spec.schedule %q never matches a date (such as day 30 or 31 of February, or day 31 of a 30-day month)", spec.Schedule)
	}
	return sched, nil
}

// maxScheduleSteps bounds the walk over schedule times missed during a long downtime.
const maxScheduleSteps = 100000

// dueSchedule is what the schedule asks for now.
type dueSchedule struct {
	// latest is the most recent schedule time in (earliest, now]; zero if none.
	latest time.Time
	// missed counts schedule times in (earliest, now] before latest: never started.
	missed int64
	// firstMissed and lastMissed are the earliest and the latest of them.
	firstMissed, lastMissed time.Time
	// next is the first schedule time after now.
	next time.Time
}

// scheduleDue walks the schedule times after earliest up to now. Like a CronJob, only the
// latest one may still start: the older ones are missed, never a storm of catch-ups.
// After maxScheduleSteps times (months of downtime on a per-minute schedule) the walk
// jumps to the last day before now and estimates the count of the skipped times.
// A schedule with no next time (Next returns the zero time) ends the walk: next is then
// zero too.
func scheduleDue(sched cron.Schedule, earliest, now time.Time) dueSchedule {
	var d dueSchedule
	var t = sched.Next(earliest)
	for steps := 1; !t.IsZero() && !t.After(now); steps++ {
		if !d.latest.IsZero() {
			if d.missed == 0 {
				d.firstMissed = d.latest
			}
			d.missed++
			d.lastMissed = d.latest
		}
		d.latest = t
		t = sched.Next(t)
		if steps == maxScheduleSteps {
			var jump = sched.Next(now.Add(-24 * time.Hour))
			if !t.IsZero() && jump.After(t) {
				var period = t.Sub(d.firstMissed) / time.Duration(d.missed+1)
				if period > 0 {
					d.missed += int64(jump.Sub(t) / period)
				}
				t = jump
			}
		}
	}
	d.next = t
	return d
}

// tooLate says whether a schedule time is past the sweep's starting deadline.
func tooLate(spec *flowsimv1.MatSimSweepSpec, scheduled, now time.Time) bool {
	return spec.StartingDeadlineSeconds != nil &&
		now.Sub(scheduled) > time.Duration(*spec.StartingDeadlineSeconds)*time.Second
}
