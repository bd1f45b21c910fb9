// Package logging builds the logr logger of flowsim's commands (zap backend).
package logging

import (
	"fmt"
	"io"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Levels are the accepted --log.level values.
var Levels = []string{"trace", "debug", "info", "warn", "error", "fatal"}

// ParseLevel maps a --log.level value to a zap level (logr V(n) logs at zap level -n:
// debug is V(1), trace V(2)).
func ParseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(s) {
	case "trace":
		return zapcore.Level(-2), nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "info", "":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	case "fatal":
		return zapcore.FatalLevel, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want one of %s)", s, strings.Join(Levels, ", "))
}

// New returns a logger writing human-readable lines to w at the given level.
func New(level string, w io.Writer) (logr.Logger, error) {
	var lvl, err = ParseLevel(level)
	if err != nil {
		return logr.Discard(), err
	}
	var enc = zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = func(l zapcore.Level, pe zapcore.PrimitiveArrayEncoder) {
		if l < zapcore.DebugLevel {
			pe.AppendString("TRACE")
			return
		}
		zapcore.CapitalLevelEncoder(l, pe)
	}
	var core = zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zap.NewAtomicLevelAt(lvl))
	return zapr.NewLogger(zap.New(core)), nil
}
