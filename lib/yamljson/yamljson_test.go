package yamljson

import (
	"strings"
	"testing"
)

func TestMapping(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"sslmode: on\nok: yes\nno_: off\nt: true\nf: False", `{"sslmode":"on","ok":"yes","no_":"off","t":true,"f":false}`},
		{"big: 123456789012345678901234567890\nneg: -9007199254740993\nhex: 0x1F\nus: 1_000", `{"big":123456789012345678901234567890,"neg":-9007199254740993,"hex":31,"us":1000}`},
		{"f: 1.5\ne: 1e3\nn: null\ntilde: ~\ns: '12'", `{"f":1.5,"e":1000,"n":null,"tilde":null,"s":"12"}`},
		{"base: &b {host: h, port: 5432}\nuse: *b\nm:\n  <<: *b\n  port: 6432", `{"base":{"host":"h","port":5432},"use":{"host":"h","port":5432},"m":{"port":6432,"host":"h"}}`},
		{"list: [1, a, {x: 2}]\n1: one", `{"list":[1,"a",{"x":2}],"1":"one"}`},
		{"ts: 2001-12-14\nu: \"\\u00e9\"", `{"ts":"2001-12-14","u":"é"}`},
	} {
		var got, err = Mapping([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Mapping(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestMappingErrors(t *testing.T) {
	for _, c := range []struct{ in, says string }{
		{"a: 1\na: 2", `duplicate key "a" (line 2, first on line 1)`},
		{"- 1\n- 2", "not a mapping"},
		{"", "empty YAML"},
		{"a: [1", "invalid YAML"},
		{"a: .inf", "no JSON form"},
		{"? [1, 2]\n: x", "not a scalar"},
	} {
		var _, err = Mapping([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Mapping(%q): error %v, want one saying %q", c.in, err, c.says)
		}
	}
}
