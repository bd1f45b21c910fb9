// Package junit is flowsim's one JUnit XML schema, shared by the report of a matsim
// run and the report of a sweep execution: CI systems read both the same way.
package junit

import (
	"encoding/xml"
	"io"
	"strconv"
)

// Suites is the document: <testsuites>.
type Suites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []Suite  `xml:"testsuite"`
}

// Suite is a <testsuite>.
type Suite struct {
	Name       string     `xml:"name,attr"`
	Tests      int        `xml:"tests,attr"`
	Failures   int        `xml:"failures,attr"`
	Errors     int        `xml:"errors,attr"`
	Skipped    int        `xml:"skipped,attr"`
	Time       string     `xml:"time,attr"`
	Timestamp  string     `xml:"timestamp,attr,omitempty"`
	Properties []Property `xml:"properties>property,omitempty"`
	Cases      []Case     `xml:"testcase"`
}

// Property is a name and value of a suite or case.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Case is a <testcase>: at most one of Failure (the code under test failed a check),
// Error (it could not be judged) and Skipped.
type Case struct {
	Name       string     `xml:"name,attr"`
	Classname  string     `xml:"classname,attr"`
	Time       string     `xml:"time,attr"`
	Properties []Property `xml:"properties>property,omitempty"`
	Failure    *Message   `xml:"failure,omitempty"`
	Error      *Message   `xml:"error,omitempty"`
	Skipped    *Message   `xml:"skipped,omitempty"`
	SystemOut  string     `xml:"system-out,omitempty"`
}

// Message is the body of a failure, error or skipped element.
type Message struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// Seconds renders a duration in seconds as JUnit's time attribute.
func Seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// Add appends a suite and adds its counts to the document's.
func (d *Suites) Add(s Suite) {
	d.Tests += s.Tests
	d.Failures += s.Failures
	d.Errors += s.Errors
	d.Skipped += s.Skipped
	d.Suites = append(d.Suites, s)
}

// Write writes the document, indented, with the XML header and a final newline.
func Write(w io.Writer, d *Suites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	var enc = xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
