// Package outfile writes report files: created (or truncated), written by one
// function, and closed, with the first error of the three.
package outfile

import (
	"io"
	"os"
)

// Write creates path and writes it with fn.
func Write(path string, fn func(io.Writer) error) error {
	var f, err = os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
