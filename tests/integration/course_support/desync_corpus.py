"""The request-smuggling (desync) corpus, as a table of this project's own.

Source: the test cases of aws/http-desync-guardian (Apache-2.0), tests/*.yaml at commit 7dd6f37.
Each entry keeps that corpus's request bytes (method, target, version and the header lines,
written `name:value` as the corpus pairs them, UTF-8 where it has non-ASCII text) and its class;
the ids are ours and say what each case is. A Host line is added by the test where one is
missing, since RFC 9112 requires it.

Classes, from the corpus: COMPLIANT requests follow RFC 9112; ACCEPTABLE ones bend it without
framing doubt; AMBIGUOUS ones can be framed differently by two parsers; SEVERE ones are
desync attempts that a server must refuse and close on.
"""

from dataclasses import dataclass

COMPLIANT = "Compliant"
ACCEPTABLE = "Acceptable"
AMBIGUOUS = "Ambiguous"
SEVERE = "Severe"


@dataclass(frozen=True)
class DesyncCase:
    """One request of the corpus: its id, its class and its exact bytes."""

    id: str
    kind: str
    method: bytes
    target: bytes
    version: bytes
    header_lines: tuple[bytes, ...]


# The header lines a browser sends, which 32 of the requests start with (the corpus' real-life
# cases), and the three that its form posts add after them.
BROWSER = (
    b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:68.0) Gecko/20100101 Firefox/68.0',
    b'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    b'Accept-Language: en-US,en;q=0.5',
    b'Accept-Encoding: gzip, deflate',
)
FORM_POST = (
    b'Content-Type: application/x-www-form-urlencoded',
    b'Connection: keep-alive',
    b'Upgrade-Insecure-Requests: 1',
)

CASES = (
    DesyncCase('custom-name-trailing-space-no-framing', ACCEPTABLE, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'x-my-custom-header :some value',
                   b'x-my-second-custom-header:some value',
               )),
    DesyncCase('custom-name-trailing-space-with-te-chunked', ACCEPTABLE, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'x-my-custom-header :some value',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('custom-name-leading-ctl-with-te-chunked', ACCEPTABLE, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x01x-my-custom-header:some value',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('custom-name-trailing-space-with-cl', ACCEPTABLE, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'x-my-custom-header :some value',
                   b'Content-Length:10000',
               )),
    DesyncCase('get-with-cl-zero', ACCEPTABLE, b'GET', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:0',
               )),
    DesyncCase('head-with-cl-zero', ACCEPTABLE, b'HEAD', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:0',
               )),
    DesyncCase('version-http09-with-headers', ACCEPTABLE, b'GET', b'/foo/bar', b'HTTP/0.9',
               (
                   b'X-My-Header:some value',
               )),
    DesyncCase('version-missing-with-headers', ACCEPTABLE, b'GET', b'/foo/bar', b'',
               (
                   b'X-My-Header:some value',
               )),
    DesyncCase('version-http12', ACCEPTABLE, b'GET', b'/foo/bar', b'HTTP/1.2',
               (
                   b'X-My-Header:some value',
               )),
    DesyncCase('te-name-trailing-space', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding :chunked',
               )),
    DesyncCase('te-name-trailing-tab', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding\t:chunked',
               )),
    DesyncCase('te-name-leading-ctl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x01Transfer-Encoding:chunked',
               )),
    DesyncCase('te-name-two-leading-ctls', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x01\x01Transfer-Encoding:chunked',
               )),
    DesyncCase('cl-name-two-leading-ctls', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x01\x01Content-Length:1',
               )),
    DesyncCase('cl-name-leading-ctl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x01Content-Length:1',
               )),
    DesyncCase('te-name-space-after-hyphen', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer- Encoding:chunked',
               )),
    DesyncCase('te-name-underscore', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer_Encoding:chunked',
               )),
    DesyncCase('cl-name-underscore', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content_Length:1000',
               )),
    DesyncCase('two-equal-cls-put', AMBIGUOUS, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
                   b'Content-Length:1000',
               )),
    DesyncCase('te-chunked-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
                   b'Content-Length:100',
               )),
    DesyncCase('te-gzip-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:gzip',
                   b'Content-Length:100',
               )),
    DesyncCase('get-with-cl-body', AMBIGUOUS, b'GET', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
               )),
    DesyncCase('get-with-te-chunked', AMBIGUOUS, b'GET', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('head-with-cl-body', AMBIGUOUS, b'HEAD', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
               )),
    DesyncCase('head-with-te-chunked', AMBIGUOUS, b'HEAD', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('te-name-trailing-space-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding :chunked',
                   b'Content-Length:1000',
               )),
    DesyncCase('te-name-leading-space-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b' Transfer-Encoding:chunked',
                   b'Content-Length:1000',
               )),
    DesyncCase('te-and-cl-names-leading-space', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b' Transfer-Encoding:chunked',
                   b' Content-Length:1000',
               )),
    DesyncCase('te-and-cl-names-trailing-space', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding :chunked',
                   b'Content-Length :1000',
               )),
    DesyncCase('empty-field-name-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b':chunked',
                   b'Content-Length:1000',
               )),
    DesyncCase('field-name-colon-prefixed-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b':SomeHeader:Transfer-Encoding::chunked',
                   b'Content-Length:1000',
               )),
    DesyncCase('whitespace-only-field-name-and-cl', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'   \t\t  :chunked',
                   b'Content-Length:1000',
               )),
    DesyncCase('te-chunked-in-http10', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.0',
               (
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('te-chunked-in-http09', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/0.9',
               (
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('cl-in-http09', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/0.9',
               (
                   b'Content-Length:100',
               )),
    DesyncCase('te-chunked-without-version', AMBIGUOUS, b'POST', b'/foo/bar', b'',
               (
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('cl-without-version', AMBIGUOUS, b'POST', b'/foo/bar', b'',
               (
                   b'Content-Length:100',
               )),
    DesyncCase('te-name-long-s-lookalike', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Tran\xc5\xbffer-Encoding:chunked',
               )),
    DesyncCase('te-name-dotless-i-lookalike', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encod\xc4\xb1ng:chunked',
               )),
    DesyncCase('te-name-triple-hyphen', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer---Encoding:chunked',
               )),
    DesyncCase('te-name-triple-underscore', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer___Encoding:chunked',
               )),
    DesyncCase('te-name-unicode-space-prefix', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'   Transfer-Encoding:chunked',
               )),
    DesyncCase('cl-name-unicode-space-suffix', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length   :1000',
               )),
    DesyncCase('te-name-unicode-dash', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer\xe2\x80\x95Encoding:chunked',
               )),
    DesyncCase('te-name-trailing-high-byte', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding\xc2\x88:chunked',
               )),
    DesyncCase('cl-name-leading-nbsp', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\xc2\xa0Content-Length:100',
               )),
    DesyncCase('te-name-leading-ctl-after-custom', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant',
                   b'\x01Transfer-Encoding:chunked',
               )),
    DesyncCase('te-value-leading-ctl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:\x01chunked',
               )),
    DesyncCase('te-value-trailing-ctl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked\x01',
               )),
    DesyncCase('te-value-leading-nbsp', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:\xc2\xa0chunked',
               )),
    DesyncCase('te-value-trailing-nbsp', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked\xc2\xa0',
               )),
    DesyncCase('te-name-trailing-ctl-after-custom', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant',
                   b'Transfer-Encoding\x01:chunked',
               )),
    DesyncCase('cl-name-leading-ctl-after-custom', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant',
                   b'\x01Content-Length:1000',
               )),
    DesyncCase('cl-name-trailing-ctl-after-custom', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant',
                   b'Content-Length\x01:1000',
               )),
    DesyncCase('cl-value-leading-ctl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:\x011000',
               )),
    DesyncCase('cl-value-trailing-ctl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000\x01',
               )),
    DesyncCase('cl-value-trailing-nbsp', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000\xc2\xa0',
               )),
    DesyncCase('custom-name-trailing-ctl-with-te', ACCEPTABLE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header\x01:Non-Rfc Compliant',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('custom-name-leading-ctl-with-te', ACCEPTABLE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x01Some-Custom-Header:Non-Rfc Compliant',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('custom-value-leading-ctl-with-te', ACCEPTABLE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:\x01Non-Rfc Compliant',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('custom-value-trailing-ctl-with-te', ACCEPTABLE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant\x01',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('cl-value-ctl-behind-custom-ctl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant\x12',
                   b'Content-Length:1000\x11',
               )),
    DesyncCase('te-value-del-behind-custom-ctl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non-Rfc Compliant\x11',
                   b'Transfer-Encoding:chunked\x7f',
               )),
    DesyncCase('te-name-tab-behind-custom-nul', SEVERE, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header\t:\x11\x12 But then \x00 which is bad',
                   b'Transfer-Encoding\t:chunked',
               )),
    DesyncCase('get-te-chunked-behind-custom-ctl', AMBIGUOUS, b'GET', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non Rfc -Compliant\x01',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('head-cl-behind-custom-ctl', AMBIGUOUS, b'HEAD', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non Rfc Compliant\x01',
                   b'Content-Length:9000',
               )),
    DesyncCase('te-high-byte-and-cl-dollar', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:\x11Rfc Compliant',
                   b'Transfer-Encoding:chunked\xc2\x80',
                   b'Content-Length:$9000',
               )),
    DesyncCase('target-backslash-t-te-high-byte-cl-dollar', SEVERE, b'POST', b'/foo/bar\\t/baz', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:\x11Rfc Compliant',
                   b'Transfer-Encoding:chunked\xc2\x80',
                   b'Content-Length:$9000',
               )),
    DesyncCase('get-target-backslash-t-with-cl', AMBIGUOUS, b'GET', b'/foo/bar\\t/baz', b'HTTP/1.1',
               (
                   b'Some-Custom-Header:Non Rfc -Compliant\x01',
                   b'Content-Length:9000',
               )),
    DesyncCase('browser-put-cl-padded', COMPLIANT, b'PUT', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   b'Connection: keep-alive',
                   b'Upgrade-Insecure-Requests: 1',
                   b'Content-Length: 22220  ',
               )),
    DesyncCase('browser-put-cl-many-headers', COMPLIANT, b'PUT', b'/test.html', b'HTTP/1.1',
               (
                   b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:68.0) Gecko/20100101 Firefox/68.0',
                   b'Upgrade-Insecure-Requests: 1',
                   b'Content-Length: 22220  ',
                   b'Header-Name-1:Header-Value-Some-Ok-String',
                   b'Header-Name-2:Header-Value-Some-Ok-String',
                   b'Header-Name-3:Header-Value-Some-Ok-String',
                   b'Header-Name-4:Header-Value-Some-Ok-String',
                   b'Header-Name-5:Header-Value-Some-Ok-String',
                   b'Header-Name-6:Header-Value-Some-Ok-String',
                   b'Header-Name-7:Header-Value-Some-Ok-String',
                   b'Header-Name-8:Header-Value-Some-Ok-String',
                   b'Header-Name-9:Header-Value-Some-Ok-String',
                   b'Header-Name-10:Header-Value-Some-Ok-String',
                   b'Header-Name-11:Header-Value-Some-Ok-String',
                   b'Header-Name-12:Header-Value-Some-Ok-String',
                   b'Header-Name-13:Header-Value-Some-Ok-String',
                   b'Header-Name-14:Header-Value-Some-Ok-String',
                   b'Header-Name-15:Header-Value-Some-Ok-String',
                   b'Header-Name-16:Header-Value-Some-Ok-String',
                   b'Header-Name-17:Header-Value-Some-Ok-String',
                   b'Header-Name-18:Header-Value-Some-Ok-String',
                   b'Header-Name-19:Header-Value-Some-Ok-String',
                   b'Header-Name-20:Header-Value-Some-Ok-String',
                   b'Header-Name-21:Header-Value-Some-Ok-String',
                   b'Header-Name-22:Header-Value-Some-Ok-String',
                   b'Header-Name-23:Header-Value-Some-Ok-String',
                   b'Header-Name-24:Header-Value-Some-Ok-String',
                   b'Header-Name-25:Header-Value-Some-Ok-String',
                   b'Header-Name-26:Header-Value-Some-Ok-String',
                   b'Header-Name-27:Header-Value-Some-Ok-String',
                   b'Header-Name-28:Header-Value-Some-Ok-String',
                   b'Header-Name-29:Header-Value-Some-Ok-String',
               )),
    DesyncCase('browser-put-te-chunked', COMPLIANT, b'PUT', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   b'Connection: keep-alive',
                   b'Upgrade-Insecure-Requests: 1',
                   b'Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-te-chunked-query', COMPLIANT, b'POST', b'/test.html?a=b&b=c&%dd=%ee', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-cl-five', COMPLIANT, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 5',
               )),
    DesyncCase('browser-post-te-gzip-chunked', COMPLIANT, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: gzip, chunked',
               )),
    DesyncCase('browser-post-cl-large-te-in-other-value', COMPLIANT, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 4000000',
                   b'X-test:Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-te-deflate-identity-chunked', COMPLIANT, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: deflate, identity, chunked',
               )),
    DesyncCase('browser-post-te-five-fields-ending-chunked', COMPLIANT, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: gzip',
                   b'Transfer-Encoding: deflate',
                   b'Transfer-Encoding: identity',
                   b'Transfer-Encoding: compress',
                   b'Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-te-chunked-with-param', COMPLIANT, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: \t\t\t\tchunked;custom_param;\t\t\t\t',
               )),
    DesyncCase('browser-get-with-cl', AMBIGUOUS, b'GET', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   b'Connection: keep-alive',
                   b'Upgrade-Insecure-Requests: 1',
                   b'Content-Length: 22',
               )),
    DesyncCase('browser-get-with-te-chunked', AMBIGUOUS, b'GET', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   b'Connection: keep-alive',
                   b'Upgrade-Insecure-Requests: 1',
                   b'Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-http10-post-te-chunked', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.0',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-two-equal-cls', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 5',
                   b'Content-Length: 5',
               )),
    DesyncCase('browser-post-te-twice-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: chunked',
                   b'Transfer-Encoding: chunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-and-cl-nul-in-other-value', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 4',
                   b'Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-cl-then-te', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:68.0) Gecko/20100101 Firefox/68.0',
                   b'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
                   b'Accept-Language: en-US,en;q=0.5',
                   b'Bad-Accept-Encoding: gzip, \x00deflate',
                   b'Content-Type: application/x-www-form-urlencoded',
                   b'Connection: keep-alive',
                   b'Upgrade-Insecure-Requests: 1',
                   b'Transfer-Encoding: chunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-cl-and-te-name-leading-nul', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 4',
                   b'\x00Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-cl-and-cr-in-other-value', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 4',
                   b'X-test: x\rTransfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-te-name-trailing-tab-and-cl', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding\t: chunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-name-leading-cr-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'\rTransfer-Encoding: chunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-name-leading-cr', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'\rTransfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-cl-name-leading-cr-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'\rContent-Length: 1000',
                   b'Content-Length: 100',
               )),
    DesyncCase('browser-post-te-chunk-typo-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: chunk',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-deflate-and-cl', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: deflate',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-xchunked-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: xchunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-five-codings-ending-chunked-and-cl', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: gzip',
                   b'Transfer-Encoding: deflate',
                   b'Transfer-Encoding: identity',
                   b'Transfer-Encoding: compress',
                   b'Transfer-Encoding: chunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-chunked-param-and-cl', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: \t\t\t\tchunked;custom_param;\t\t\t\t',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-chunked-twice-in-list-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: chunked,chunked',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-mixed-case-and-cl4', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'TrAnSfEr-EnCoDiNg: ChUnKeD',
                   b'Content-Length: 4',
               )),
    DesyncCase('browser-post-te-chunked-then-cow-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: chunked',
                   b'Transfer-Encoding: cow',
                   b'Content-Length: 6',
               )),
    DesyncCase('browser-post-cl6-and-te-name-leading-nul', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Content-Length: 6',
                   b'\x00Transfer-Encoding: chunked',
               )),
    DesyncCase('browser-post-te-value-leading-nul-and-cl', SEVERE, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'Transfer-Encoding: \x00chunked',
                   b'Content-Length: 6',
               )),
    DesyncCase('browser-post-te-mixed-case-and-cl6', AMBIGUOUS, b'POST', b'/test.html', b'HTTP/1.1',
               (
                   *BROWSER,
                   *FORM_POST,
                   b'TrAnSfEr-EnCoDiNg: ChUnKeD',
                   b'Content-Length: 6',
               )),
    DesyncCase('get-no-headers', COMPLIANT, b'GET', b'/foo/bar', b'HTTP/1.1',
               ()),
    DesyncCase('post-te-chunked', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('put-cl', COMPLIANT, b'PUT', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
               )),
    DesyncCase('post-te-chunked-custom-value-obs-text', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
                   b'My-Custom-Header:\t\t\tCustom-Value;`\xc2\x85\xc2\x93\xc2\xa0',
               )),
    DesyncCase('custom-name-all-tchars-value-obs-text', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b"My-Custom-Header.!#$%&'*+^_`|~0123456789:\t\t\tCustom-Value;`\xc2\x85\xc2\x93\xc2\xa0",
               )),
    DesyncCase('custom-name-underscore-value-obs-text', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'My_Custom_Header:\t\t\tCustom-Value;`\xc2\x85\xc2\x93\xc2\xa0',
               )),
    DesyncCase('custom-name-dots-value-obs-text', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'My.Custom.Header:\t\t\tCustom-Value;`\xc2\x85\xc2\x93\xc2\xa0',
               )),
    DesyncCase('custom-name-digits-value-obs-text', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'My-Custom-Header-0987654321:\t\t\tCustom-Value;`\xc2\x85\xc2\x93\xc2\xa0',
               )),
    DesyncCase('te-five-fields-ending-chunked', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:gzip',
                   b'Transfer-Encoding:deflate',
                   b'Transfer-Encoding:identity',
                   b'Transfer-Encoding:compress',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('te-list-with-spaces-ending-chunked', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:gzip , deflate , \tidentity\t, compress\t, chunked',
               )),
    DesyncCase('te-three-fields-with-params', COMPLIANT, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:   gzip   ;   ',
                   b'Transfer-Encoding:deflate\t\t;\t\t',
                   b'Transfer-Encoding:\t\t\t\tchunked;custom_param;\t\t\t\t',
               )),
    DesyncCase('target-userinfo-like-path', COMPLIANT, b'POST', b'/user:pass123@www.example.com:8080/site/index.php?action=login%20++~!@#$%^&*()_+:<>?,./;\'[]{}`~\\"|&prev=index#form', b'HTTP/1.1',
               (
                   b'Accept:*/*',
               )),
    DesyncCase('target-raw-utf8', COMPLIANT, b'GET', b'/\xd1\x81\xd1\x82\xd1\x80\xd0\xb0\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5-\xd1\x81\xd0\xb8\xd0\xbc\xd0\xb2\xd0\xbe\xd0\xbb\xd1\x8b/\xd0\xbf\xd0\xbe\xd0\xb4\xd0\xb4\xd0\xb5\xd1\x80\xd0\xb6\xd0\xb8\xd0\xb2\xd0\xb0\xd1\x8e\xd1\x82\xd1\x81\xd1\x8f', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-empty', COMPLIANT, b'GET', b'', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('two-different-cls', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
                   b'Content-Length:100',
               )),
    DesyncCase('cl-comma-list', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000,1000',
               )),
    DesyncCase('cl-space-list', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000 1000',
               )),
    DesyncCase('cl-decimal-point', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000.1000',
               )),
    DesyncCase('cl-overflows-64-bits', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:18446744073709551616',
               )),
    DesyncCase('te-xchunked', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:xchunked',
               )),
    DesyncCase('te-value-trailing-ctl-0x11', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked\x11',
               )),
    DesyncCase('cl-value-trailing-ctl-0x11', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000\x11',
               )),
    DesyncCase('te-chunked-twice-in-fields', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('te-chunked-twice-in-list', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked,chunked',
               )),
    DesyncCase('obs-fold-crlf-hiding-te', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
                   b'Some-Custom-Header:Multi-line values\r\n are \n deprecated. E.g. it may contain \n Transfer-Encoding: chunked\r\n',
               )),
    DesyncCase('obs-fold-bare-lf-hiding-te', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
                   b'Some-Custom-Header:Multi-line values\n are \n deprecated. E.g. it may contain \n Transfer-Encoding: chunked',
               )),
    DesyncCase('bare-cr-inside-value', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
                   b'Some-Custom-Header:Parser error\r must not contain\r symbols.',
               )),
    DesyncCase('bare-lf-inside-value', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length:1000',
                   b'Some-Custom-Header:Parser error\n must not contain\n symbols.',
               )),
    DesyncCase('field-name-ends-in-cr', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header\r:1000',
               )),
    DesyncCase('field-name-ends-in-lf-hiding-cl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header\n:Content-Length:1000\r\n Transfer-Encoding: chunked',
                   b'Content-Length:100',
               )),
    DesyncCase('field-name-ends-in-nul', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header\x00:1000',
               )),
    DesyncCase('bare-cr-in-value-hiding-cl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header:value\rcontent-length: 1000',
                   b'Content-Length:100',
               )),
    DesyncCase('bare-lf-in-value-hiding-cl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header:value\n content-length: 1000',
                   b'Content-Length:100',
               )),
    DesyncCase('nul-in-value-hiding-cl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header:value\x00content-length: 1000',
                   b'Content-Length:100',
               )),
    DesyncCase('nul-starts-field-line', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'\x00Some-Bad-Header:value',
                   b'Content-Length:100',
               )),
    DesyncCase('nul-starts-value', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header:\x00value',
                   b'Content-Length:100',
               )),
    DesyncCase('nul-ends-value', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Some-Bad-Header:value\x00',
                   b'Content-Length:100',
               )),
    DesyncCase('cl-name-trailing-space-and-cl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Content-Length :100',
                   b'Content-Length:1000',
               )),
    DesyncCase('cl-name-leading-space-and-cl', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b' Content-Length:100',
                   b'Content-Length:1000',
               )),
    DesyncCase('te-name-trailing-space-and-te', SEVERE, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding :chunked',
                   b'Transfer-Encoding:chunked',
               )),
    DesyncCase('method-with-underscore-and-ctl', SEVERE, b'bad_method\x01', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Host:localhost',
               )),
    DesyncCase('te-chunked-and-cl-100', AMBIGUOUS, b'POST', b'/foo/bar', b'HTTP/1.1',
               (
                   b'Transfer-Encoding:chunked',
                   b'Content-Length:100',
               )),
    DesyncCase('target-tab-then-version', AMBIGUOUS, b'GET', b'/endpoint_a\tHTTP/1.1', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('version-trailing-space', ACCEPTABLE, b'GET', b'/endpoint_a', b'HTTP/1.1 ',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-ctl-then-version', AMBIGUOUS, b'GET', b'/endpoint_a\x01HTTP/1.1', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-with-raw-spaces', ACCEPTABLE, b'GET', b'/endpoint_a?param=not escaped spaces', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('version-repeated-after-space', SEVERE, b'GET', b'/endpoint_a', b'HTTP/1.1 HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-bare-cr-then-version', SEVERE, b'GET', b'/endpoint_a\rHTTP/1.1', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-bare-lf-then-version', SEVERE, b'GET', b'/endpoint_a\nHTTP/1.1', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-tab-hiding-second-request', SEVERE, b'GET', b'/endpoint_a\tHTTP/1.1\r\nHost:localhost\r\n\r\nGET\t/endpoint_b\t', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-nul-then-version', SEVERE, b'GET', b'/endpoint_a\x00HTTP/1.1', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-starts-with-nul', SEVERE, b'GET', b'\x00/endpoint_aHTTP/1.1', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-percent-09', COMPLIANT, b'GET', b'/path-%09-uri', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-percent-20', COMPLIANT, b'GET', b'/path-%20-uri', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-percent-0d', COMPLIANT, b'GET', b'/path-%0D-uri', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
    DesyncCase('target-percent-0a', COMPLIANT, b'GET', b'/path-%0A-uri', b'HTTP/1.1',
               (
                   b'X-Forwarded-For:1.1.1.1',
               )),
)
