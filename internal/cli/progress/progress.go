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
type Display struct {
	Plain     time.Duration
	plainAt   time.Time
	plainFrom time.Time
	plainName string

	w       io.Writer
	stopped bool
	p       *mpb.Progress
	mu      sync.Mutex
	bars    map[string]*mpb.Bar
	last    *mpb.Bar
	at      time.Time // of the last update, for the rate
}

// New returns a display on w: live when live is true (use IsTerminal), inert otherwise.
func New(w io.Writer, live bool) *Display {
	var d = &Display{w: w, bars: map[string]*mpb.Bar{}}
	if live {
		d.p = mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh()) // as wide as the terminal
	}
	return d
}

// Live reports whether the display draws.
func (d *Display) Live() bool { return d != nil && d.p != nil }

// Update sets the bar named name (created on first use) to done of total documents.
// A new name completes the previous bar, so one line per unit of work remains.
func (d *Display) Update(name string, done, total int64) {
	if !d.Live() {
		d.plain(name, done, total)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var b, ok = d.bars[name]
	if !ok {
		if d.last != nil && !d.last.Completed() {
			d.last.SetTotal(-1, true) // finish it where it is
		}
		b = d.p.AddBar(total, mpb.BarWidth(30),
			mpb.PrependDecorators(
				decor.Name(name, decor.WCSyncSpaceR),
				decor.CountersNoUnit("%d / %d docs", decor.WCSyncWidth),
			),
			mpb.AppendDecorators(
				decor.EwmaSpeed(nil, "%.0f docs/s", 30, decor.WCSyncSpace),
				decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace), "done"),
			),
		)
		d.bars[name], d.last, d.at = b, b, time.Now()
	}
	if total > 0 && total != b.Current() {
		b.SetTotal(total, false)
	}
	var now = time.Now()
	b.EwmaSetCurrent(done, now.Sub(d.at))
	d.at = now
	if done >= total {
		b.SetTotal(total, true)
	}
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
	for _, b := range d.bars {
		if !b.Completed() {
			b.Abort(false)
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

// plain prints "progress: NAME: DONE / TOTAL docs, RATE docs/s, ETA" at most every
// d.Plain, and never for a unit of work that ends within the first interval.
func (d *Display) plain(name string, done, total int64) {
	if d == nil || d.Plain <= 0 {
		return
	}
	var now = time.Now()
	if name != d.plainName {
		d.plainName, d.plainFrom, d.plainAt = name, now, now
		return
	}
	if now.Sub(d.plainAt) < d.Plain || done >= total {
		return
	}
	d.plainAt = now
	var rate = float64(done) / now.Sub(d.plainFrom).Seconds()
	var eta = "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(d.w, "progress: %s: %d / %d docs, %.0f docs/s, ETA %s\n", name, done, total, rate, eta)
}
