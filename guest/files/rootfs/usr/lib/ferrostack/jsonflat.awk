# jsonflat.awk: flatten one JSON document into "path<TAB>value" lines, one per scalar, so that
# shell scripts can read OpenStack metadata with busybox alone.
#
#   {"hostname": "vm1", "public_keys": {"k1": "ssh-ed25519 AAAA..."}, "keys": [{"data": "x"}]}
#
# becomes
#
#   hostname<TAB>vm1
#   public_keys/k1<TAB>ssh-ed25519 AAAA...
#   keys/0/data<TAB>x
#
# Strings are unescaped; escaped control characters (\n, \t, ...) and tabs become spaces, so
# every value stays on one line. \uXXXX outside ASCII becomes "?". Malformed input: a message
# on stderr and exit status 1.

function fail(msg) {
    printf "jsonflat: %s at offset %d\n", msg, pos > "/dev/stderr"
    failed = 1
    exit 1
}

function skip_ws() {
    while (pos <= len && index(" \t\r\n", substr(doc, pos, 1)) > 0)
        pos++
}

function hexval(h,    i, c, v) {
    v = 0
    for (i = 1; i <= length(h); i++) {
        c = index("0123456789abcdef", tolower(substr(h, i, 1)))
        if (c == 0)
            fail("bad \\u escape")
        v = v * 16 + c - 1
    }
    return v
}

function parse_string(    out, i, c, v) {
    pos++
    out = ""
    for (;;) {
        i = match(substr(doc, pos), /["\\]/)
        if (i == 0)
            fail("unterminated string")
        out = out substr(doc, pos, i - 1)
        pos += i - 1
        c = substr(doc, pos, 1)
        pos++
        if (c == "\"")
            break
        c = substr(doc, pos, 1)
        pos++
        if (c == "n" || c == "r" || c == "t" || c == "b" || c == "f") {
            out = out " "
        } else if (c == "u") {
            v = hexval(substr(doc, pos, 4))
            pos += 4
            out = out ((v >= 32 && v < 127) ? sprintf("%c", v) : "?")
        } else if (c == "\"" || c == "\\" || c == "/") {
            out = out c
        } else {
            fail("bad escape")
        }
    }
    gsub(/\t/, " ", out)
    return out
}

function parse_literal(path,    rest) {
    rest = substr(doc, pos)
    if (!match(rest, /^(true|false|null|-?[0-9][0-9.eE+-]*)/))
        fail("unexpected character")
    print path "\t" substr(rest, 1, RLENGTH)
    pos += RLENGTH
}

function parse_object(path,    key, c) {
    pos++
    skip_ws()
    if (substr(doc, pos, 1) == "}") {
        pos++
        return
    }
    for (;;) {
        skip_ws()
        if (substr(doc, pos, 1) != "\"")
            fail("expected a key")
        key = parse_string()
        skip_ws()
        if (substr(doc, pos, 1) != ":")
            fail("expected ':'")
        pos++
        parse_value(path == "" ? key : path "/" key)
        skip_ws()
        c = substr(doc, pos, 1)
        pos++
        if (c == "}")
            return
        if (c != ",")
            fail("expected ',' or '}'")
    }
}

function parse_array(path,    n, c) {
    pos++
    skip_ws()
    if (substr(doc, pos, 1) == "]") {
        pos++
        return
    }
    for (n = 0; ; n++) {
        parse_value(path == "" ? n : path "/" n)
        skip_ws()
        c = substr(doc, pos, 1)
        pos++
        if (c == "]")
            return
        if (c != ",")
            fail("expected ',' or ']'")
    }
}

function parse_value(path,    c) {
    skip_ws()
    if (pos > len)
        fail("unexpected end")
    c = substr(doc, pos, 1)
    if (c == "{")
        parse_object(path)
    else if (c == "[")
        parse_array(path)
    else if (c == "\"")
        print path "\t" parse_string()
    else
        parse_literal(path)
}

{ doc = doc $0 "\n" }

END {
    if (failed)
        exit 1
    len = length(doc)
    pos = 1
    parse_value("")
    skip_ws()
    if (pos <= len)
        fail("trailing data")
}
