// Package shell quotes words for the POSIX shell: the one rule behind every
// `reproduce:` line flowsim prints (the local CLI and `flowsim kube`).
package shell

import "strings"

// Quote returns s as one shell word: as it is when it holds nothing the shell
// would interpret, otherwise in single quotes.
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`{}[]*?;&|<>()#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
