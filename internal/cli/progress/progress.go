// Package progress is flowsim's terminal display: a live bar per transaction (or any
// named unit of work) with documents, rate and ETA, and PASS/FAIL colours. On a
// terminal it draws with github.com/vbauerster/mpb (bars that redraw in place and
// print other output above them); anywhere else (a pipe, a file, CI logs, TERM=dumb)
// it draws nothing and callers print their plain lines, as before. Colours follow
// NO_COLOR (https://no-color.org) and are off when the writer is not a terminal.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/fatih/color"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal that can redraw lines.
func IsTerminal(w io.Writer) bool {
	var f, ok = w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// CanDraw reports whether w is a terminal a live display can draw on: one that
// reports its size (a terminal of 0 rows or columns, as `docker run -t` or a CI
// runner's may be, would show nothing).
func CanDraw(w io.Writer) bool {
	if !IsTerminal(w) {
		return false
	}
	var cols, rows, err = term.GetSize(int(w.(*os.File).Fd()))
	return err == nil && cols > 0 && rows > 0
}

// ColorFor reports whether text written to w may carry colours.
func ColorFor(w io.Writer) bool {
	_, noColor := os.LookupEnv("NO_COLOR")
	return !noColor && IsTerminal(w)
}

// Display shows live bars on a terminal. On anything else it is not live: with
// Plain set it prints a plain line per unit of work at most every Plain interval
// (so that a long transaction shows progress in a CI log too), else nothing.
//
// Rate and ETA are those of whole units of work, their commit included: the first
// documents of a transaction go into pipe buffers at memory speed, and its commit
// may take longer than sending them. The rate is the documents per second since
// the unit started, once a second has passed (before, that of the last committed
// unit); the ETA comes from the last committed unit's rate, applied to this unit's
// documents (without one, it is the time to send the rest, "+ commit").
type Display struct {
	Plain     time.Duration
	plainAt   time.Time
	plainName string

	w       io.Writer
	stopped bool
	p       *mpb.Progress
	mu      sync.Mutex
	bars    map[string]*unit
	last    *unit
	now     func() time.Time // the clock (tests set it)

	st       sync.Mutex // guards the units' figures and lastRate (the bars' decorators read them)
	lastRate float64    // documents per second of the last committed unit
}

// unit is a unit of work (a transaction) and its figures.
type unit struct {
	bar         *mpb.Bar
	start, sent time.Time // sent: when every document was sent (zero until then)
	end         time.Time // when it committed (zero until then)
	done, total int64
}

// New returns a display on w: live when live is true (use CanDraw), inert otherwise.
func New(w io.Writer, live bool) *Display {
	var d = &Display{w: w, bars: map[string]*unit{}, now: time.Now}
	if live {
		d.p = mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh()) // as wide as the terminal
	}
	return d
}

// Live reports whether the display draws.
func (d *Display) Live() bool { return d != nil && d.p != nil }

// Update sets the unit of work named name (created on first use) to done of total
// documents sent; committed says that it is over. A new name completes the previous
// unit's bar, so one line per unit of work remains.
func (d *Display) Update(name string, done, total int64, committed bool) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var now = d.now()
	var u, ok = d.bars[name]
	if !ok {
		u = &unit{start: now}
		if d.Live() {
			if d.last != nil && d.last.bar != nil && !d.last.bar.Completed() {
				d.last.bar.SetTotal(-1, true) // finish it where it is
			}
			// Total 0: the bar completes when the unit commits, not when all is sent.
			u.bar = d.p.AddBar(0, mpb.BarWidth(30),
				mpb.PrependDecorators(
					decor.Name(name, decor.WCSyncSpaceR),
					decor.CountersNoUnit("%d / %d docs", decor.WCSyncWidth),
				),
				mpb.AppendDecorators(
					decor.Any(func(decor.Statistics) string { return d.figures(u) }, decor.WCSyncSpace),
				),
			)
		}
		d.bars[name], d.last = u, u
	}
	d.st.Lock()
	u.done, u.total = done, total
	if done >= total && u.sent.IsZero() {
		u.sent = now
	}
	if committed && u.end.IsZero() {
		u.end = now
		if secs := now.Sub(u.start).Seconds(); secs > 0 && total > 0 {
			d.lastRate = float64(total) / secs
		}
	}
	d.st.Unlock()
	if !d.Live() {
		d.plain(name, u, now)
		return
	}
	u.bar.SetTotal(total, committed)
	if !committed {
		u.bar.SetCurrent(done)
	}
}

// figures renders the rate and ETA of u now.
func (d *Display) figures(u *unit) string {
	d.st.Lock()
	defer d.st.Unlock()
	var now = d.now()
	if !u.end.IsZero() {
		now = u.end
	}
	var rate, eta = d.estimate(u, now)
	return rate + "  " + eta
}

// estimate returns u's rate and ETA at now; d.st is held.
func (d *Display) estimate(u *unit, now time.Time) (rate, eta string) {
	var elapsed = now.Sub(u.start)
	var r = d.lastRate
	if elapsed >= time.Second || !u.end.IsZero() {
		r = float64(u.done) / max(elapsed.Seconds(), 1e-9)
	}
	rate = "- docs/s"
	if r > 0 {
		rate = fmt.Sprintf("%.0f docs/s", r)
	}
	var round = func(x time.Duration) string { return x.Round(time.Second).String() }
	switch {
	case !u.end.IsZero():
		eta = "done"
	case d.lastRate > 0 && time.Duration(float64(u.total)/d.lastRate*float64(time.Second)) > elapsed:
		eta = "ETA " + round(time.Duration(float64(u.total)/d.lastRate*float64(time.Second))-elapsed)
	case !u.sent.IsZero():
		eta = "committing"
	case r > 0:
		eta = "ETA " + round(time.Duration(float64(u.total-u.done)/r*float64(time.Second))) + " + commit"
	default:
		eta = "ETA ?"
	}
	return rate, eta
}

// Write prints p above the bars (logs, notes); on an inert display it goes nowhere,
// so callers write plain output themselves when !Live().
// After Stop it writes to w directly.
func (d *Display) Write(p []byte) (int, error) {
	if !d.Live() {
		return len(p), nil
	}
	d.mu.Lock()
	var stopped = d.stopped
	d.mu.Unlock()
	if stopped {
		return d.w.Write(p)
	}
	return d.p.Write(p)
}

// Stop completes every bar and waits until the display has drawn its last frame.
func (d *Display) Stop() {
	if !d.Live() {
		return
	}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	for _, u := range d.bars {
		if !u.bar.Completed() {
			u.bar.Abort(false)
		}
	}
	d.mu.Unlock()
	d.p.Wait()
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
}

// Painter colours status words (PASSED, FAILED, SETUP ERROR) when enabled.
type Painter struct{ on bool }

// NewPainter colours when on (use ColorFor).
func NewPainter(on bool) Painter { return Painter{on: on} }

// Pass, Fail and Warn colour s green, red and yellow.
func (p Painter) Pass(s string) string { return p.paint(s, color.FgGreen) }
func (p Painter) Fail(s string) string { return p.paint(s, color.FgRed) }
func (p Painter) Warn(s string) string { return p.paint(s, color.FgYellow) }

func (p Painter) paint(s string, a color.Attribute) string {
	if !p.on {
		return s
	}
	var c = color.New(a, color.Bold)
	c.EnableColor() // the decision is ours (terminal, NO_COLOR), not the package's global
	return c.Sprint(s)
}

// plain prints "progress: NAME: DONE / TOTAL docs, RATE, ETA" at most every d.Plain,
// and never for a unit of work that ends within the first interval; d.mu is held.
func (d *Display) plain(name string, u *unit, now time.Time) {
	if d.Plain <= 0 {
		return
	}
	if name != d.plainName {
		d.plainName, d.plainAt = name, now
		return
	}
	if now.Sub(d.plainAt) < d.Plain || !u.end.IsZero() {
		return
	}
	d.plainAt = now
	d.st.Lock()
	var rate, eta = d.estimate(u, now)
	d.st.Unlock()
	fmt.Fprintf(d.w, "progress: %s: %d / %d docs, %s, %s\n", name, u.done, u.total, rate, eta)
}
