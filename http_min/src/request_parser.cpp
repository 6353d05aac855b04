// RequestParser: a strict, incremental HTTP/1.1 request parser (RFC 9112 for the syntax and
// the framing, RFC 9110 for Host, Connection and Expect).
//
// How it stays the same however the bytes arrive: every input byte is examined once, in
// order, and every decision is taken at a definite byte (the LF that ends a line, the first
// byte over a limit, the byte after a bare CR). A request fed whole and the same request fed
// one byte at a time therefore take the same decisions at the same bytes. parse() resumes at
// pos_, the first byte not yet examined, so feeding a request in n pieces costs O(length),
// not O(length * n).
//
// Where the RFC leaves a choice, this parser takes the strict and simple one:
// - a bare LF ends nothing: 400 (RFC 9112 section 2.2 allows accepting it; we do not);
// - empty lines before the request line are skipped (RFC 9112 section 2.2 SHOULD);
// - one Content-Length field with one value, or 400 (RFC 9110 section 8.6 lets a recipient
//   take "5, 5" or two identical fields as 5, or reject them: we reject);
// - Content-Length with Transfer-Encoding: 400 (RFC 9112 section 6.1 allows it: the classic
//   request-smuggling disagreement between a proxy and a server);
// - Transfer-Encoding must end with chunked, else 400 (RFC 9112 section 6.3, a MUST); any
//   coding before chunked is one we do not implement: 501 (RFC 9112 section 6.1);
// - an expectation other than 100-continue is ignored (RFC 9110 section 10.1.1: a server
//   MAY answer 417, which our error set does not have), and so is any expectation in an
//   HTTP/1.0 request (there the RFC says MUST ignore);
// - trailer fields are checked like header fields, then dropped.
#include "http_min/request_parser.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>

#include "http_min/request_line.hpp"

namespace http_min {

namespace {

// A chunk-size line, chunk extensions included, may be this long (CRLF included): the
// extensions are ignored, but RFC 9112 section 7.1.1 asks to bound them.
constexpr std::size_t max_chunk_line = 1024;
// The chunked framing (size lines and CRLFs) may take max_body plus this many bytes, so a
// body sent in tiny chunks cannot make the server hold much more than max_body.
constexpr std::size_t chunk_framing_allowance = 1024;

char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    }
    return true;
}

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hexdig(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
unsigned hex_value(char c) {
    if (is_digit(c)) return static_cast<unsigned>(c - '0');
    return static_cast<unsigned>(to_lower(c) - 'a' + 10);
}

std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
    return text;
}

std::size_t saturating_add(std::size_t a, std::size_t b) {
    return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                           : a + b;
}

// Calls `each` with every non-empty element of a comma-separated list (RFC 9110 section
// 5.6.1), whitespace trimmed, until it returns false.
template <class Each>
void for_each_element(std::string_view list, Each&& each) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view element = trim_ows(list.substr(0, comma));
        if (!element.empty() && !each(element)) return;
        if (comma == std::string_view::npos) return;
        list.remove_prefix(comma + 1);
    }
}

struct Verdict {
    int status = 0;  // 0: fine
    std::string_view reason;
};

// field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5). Splits a line
// (without its CRLF) into name and trimmed value.
Verdict split_field_line(std::string_view line, std::string_view& name, std::string_view& value) {
    // A line that starts with whitespace continues the previous one (obs-fold), or, first
    // after the request line, hides a field: both are rejected (RFC 9112 sections 5.2, 2.2).
    if (is_ows(line.front()))
        return {400, "obsolete line folding (a line starting with whitespace)"};
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return {400, "header line without a colon"};
    name = line.substr(0, colon);
    if (name.empty()) return {400, "empty header field name"};
    // RFC 9112 section 5.1: no whitespace between the name and the colon, MUST reject.
    if (is_ows(name.back())) return {400, "whitespace between a header field name and the colon"};
    if (!is_token(name)) return {400, "header field name is not a token"};
    value = trim_ows(line.substr(colon + 1));
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
            return {400, "control character in a header field value"};
        }
    }
    return {};
}

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section 3.2.2). Empty is
// allowed: it is what a client sends for a target without an authority.
bool is_valid_host(std::string_view host) {
    const auto is_unreserved_or_sub_delim = [](char c) {
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
    };
    std::size_t at = 0;
    if (host.starts_with('[')) {  // IP-literal: an IPv6 address or IPvFuture
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        for (const char c : host.substr(1, close - 1)) {
            if (!is_unreserved_or_sub_delim(c) && c != ':') return false;
        }
        at = close + 1;
    } else {  // reg-name or IPv4address
        while (at < host.size() && host[at] != ':') {
            if (host[at] == '%') {
                if (at + 2 >= host.size() || !is_hexdig(host[at + 1]) || !is_hexdig(host[at + 2])) {
                    return false;
                }
                at += 3;
            } else if (is_unreserved_or_sub_delim(host[at])) {
                ++at;
            } else {
                return false;
            }
        }
    }
    if (at == host.size()) return true;
    if (host[at] != ':') return false;
    return std::all_of(host.begin() + static_cast<std::ptrdiff_t>(at) + 1, host.end(), is_digit);
}

// The elements after a chunk size: *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), with
// ext-val = token / quoted-string (RFC 9112 section 7.1.1). Checked, then ignored.
bool is_valid_chunk_extension(std::string_view rest) {
    std::size_t at = 0;
    const auto skip_ows = [&] {
        while (at < rest.size() && is_ows(rest[at])) ++at;
    };
    const auto token = [&] {
        const std::size_t start = at;
        while (at < rest.size() && is_tchar(rest[at])) ++at;
        return at > start;
    };
    while (at < rest.size()) {
        skip_ows();
        if (at == rest.size() || rest[at] != ';') return false;
        ++at;
        skip_ows();
        if (!token()) return false;
        skip_ows();
        if (at == rest.size() || rest[at] != '=') continue;
        ++at;
        skip_ows();
        if (at < rest.size() && rest[at] == '"') {  // quoted-string
            ++at;
            while (true) {
                if (at == rest.size()) return false;
                const auto byte = static_cast<unsigned char>(rest[at]);
                if (byte == '"') break;
                if (byte == '\\') {
                    if (++at == rest.size()) return false;
                    const auto escaped = static_cast<unsigned char>(rest[at]);
                    if ((escaped < 0x20 && escaped != '\t') || escaped == 0x7f) return false;
                } else if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
                    return false;
                }
                ++at;
            }
            ++at;
        } else if (!token()) {
            return false;
        }
    }
    return true;
}

// `part` as offsets into `input`; `part` must lie inside it (a learner's
// parse_request_line() might return a view of something else).
template <class Slice>
Slice slice_of(std::string_view input, std::string_view part) {
    const std::less_equal<const char*> not_after;
    if (part.data() == nullptr || !not_after(input.data(), part.data()) ||
        !not_after(part.data() + part.size(), input.data() + input.size())) {
        throw std::logic_error(
            "parse_request_line() must set request.method and request.target to parts of the "
            "line it was given");
    }
    return {static_cast<std::size_t>(part.data() - input.data()), part.size()};
}

template <class Slice>
std::string_view view_of(std::string_view input, const Slice& slice) {
    return input.substr(slice.offset, slice.size);
}

}  // namespace

// tchar by byte value, built at compile time: one lookup per byte instead of a search of
// the symbol list (is_tchar() runs for every byte of every method and field name).
constexpr std::array<bool, 256> tchar_table = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c) {
        table[static_cast<std::size_t>(c)] =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    for (const char c : std::string_view("!#$%&'*+-.^_`|~")) {
        table[static_cast<unsigned char>(c)] = true;
    }
    return table;
}();

bool is_tchar(char c) noexcept {
    return tchar_table[static_cast<unsigned char>(c)];
}

bool is_token(std::string_view text) noexcept {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

std::string_view Request::header(std::string_view name) const noexcept {
    for (const Header& field : headers) {
        if (equals_ignoring_case(field.name, name)) return field.value;
    }
    return {};
}

RequestParser::RequestParser(const ParserLimits& limits) : limits_(limits) {
    if (limits_.max_headers > header_capacity) {
        throw std::invalid_argument("RequestParser: ParserLimits::max_headers is larger than " +
                                    std::to_string(header_capacity));
    }
    reset();
}

void RequestParser::reset() noexcept {
    request_ = Request{};
    chunked_body_.clear();  // keeps the capacity for the next chunked request
    consumed_ = 0;
    error_status_ = 0;
    error_reason_ = {};
    phase_ = Phase::request_line;
    headers_done_ = false;
    base_ = 0;
    pos_ = 0;
    begin_line(0, limits_.max_header_bytes, 431, "request line and header fields too large");
    method_ = {};
    target_ = {};
    field_count_ = 0;
    host_index_ = 0;
    has_host_ = false;
    body_start_ = 0;
    chunk_left_ = 0;
    chunk_framing_ = 0;
    trailer_start_ = 0;
}

bool RequestParser::headers_complete() const noexcept {
    return headers_done_;
}

RequestParser::State RequestParser::parse(std::string_view input) {
    if (input.size() < pos_) {
        throw std::logic_error(
            "RequestParser::parse: the input is shorter than in the previous call (call reset() "
            "before parsing the next request)");
    }
    rebase(input);
    if (phase_ == Phase::done || phase_ == Phase::failed) return state_now();
    return run(input);
}

RequestParser::State RequestParser::state_now() const noexcept {
    switch (phase_) {
        case Phase::done:
            return State::complete;
        case Phase::failed:
            return State::error;
        default:
            return State::incomplete;
    }
}

RequestParser::State RequestParser::fail(int status, std::string_view reason) noexcept {
    phase_ = Phase::failed;
    error_status_ = status;
    error_reason_ = reason;
    return State::error;
}

RequestParser::State RequestParser::finish(std::size_t end) noexcept {
    phase_ = Phase::done;
    consumed_ = end;
    pos_ = end;
    if (request_.framing == BodyFraming::chunked) request_.body = chunked_body_;
    // (run() sets a Content-Length body, a view into the input that rebase() keeps right)
    return State::complete;
}

// The views in request_ point into the input of the previous call. If the caller's buffer
// moved since (a std::string that grew), rebuild them from the offsets; the bytes are the
// same, so if it did not move they are still right.
void RequestParser::rebase(std::string_view input) noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(input.data());
    if (base == base_) return;
    base_ = base;
    request_.method = view_of(input, method_);
    request_.target = view_of(input, target_);
    for (std::size_t i = 0; i < field_count_; ++i) {
        header_storage_[i] = {view_of(input, field_slices_[i].name),
                              view_of(input, field_slices_[i].value)};
    }
    if (has_host_) request_.host = header_storage_[host_index_].value;
    if (phase_ == Phase::done && request_.framing == BodyFraming::content_length) {
        request_.body =
            input.substr(body_start_, static_cast<std::size_t>(request_.content_length));
    }
}

// A new line starts at `start`; a byte at index `limit_at` or beyond (before the line ends)
// is answered with `limit_status`.
void RequestParser::begin_line(std::size_t start, std::size_t limit_at, int limit_status,
                               std::string_view limit_reason) noexcept {
    line_start_ = start;
    limit_at_ = limit_at;
    limit_status_ = limit_status;
    limit_reason_ = limit_reason;
    target_start_ = 0;
    target_done_ = false;
}

void RequestParser::begin_chunk_size_line() noexcept {
    const std::size_t line_limit = saturating_add(pos_, max_chunk_line);
    const std::size_t budget = saturating_add(limits_.max_body, chunk_framing_allowance);
    const std::size_t budget_limit =
        saturating_add(pos_, budget > chunk_framing_ ? budget - chunk_framing_ : 0);
    if (budget_limit < line_limit) {
        begin_line(pos_, budget_limit, 413, "chunked framing too large for the body limit");
    } else {
        begin_line(pos_, line_limit, 400, "chunk-size line (with extensions) too long");
    }
}

// Examines the bytes of the current line from pos_ on. True when the line's LF arrived:
// `line` is then the line without its CRLF and pos_ the first byte after it. False when more
// bytes are needed, or on an error (phase_ is then failed).
bool RequestParser::next_line(std::string_view input, std::string_view& line) {
    const char* const data = input.data();
    for (std::size_t i = pos_; i < input.size(); ++i) {
        const char c = data[i];
        const bool measuring_target = phase_ == Phase::request_line && !target_done_;
        if (measuring_target) {
            // Answer 414 as soon as the target is too long, before the line ends: the
            // client cannot make us hold a target longer than the limit.
            if (target_start_ == 0) {
                if (c == ' ') target_start_ = i + 1;
            } else if (c == ' ' || c == '\r' || c == '\n') {
                target_done_ = true;
            } else if (i - target_start_ >= limits_.max_target) {
                fail(414, "request-target too long");
                return false;
            }
        }
        if (i >= limit_at_) {
            fail(limit_status_, limit_reason_);
            return false;
        }
        // A CR must be followed by LF, anywhere (RFC 9112 section 2.2: a bare CR is invalid).
        if (i > line_start_ && data[i - 1] == '\r' && c != '\n') {
            fail(400, "bare CR (not followed by LF)");
            return false;
        }
        if (c == '\n') {
            // RFC 9112 section 2.2 lets a recipient take a bare LF as a line end. We do not:
            // a client and a proxy that disagree about line ends can smuggle requests.
            if (i == line_start_ || data[i - 1] != '\r') {
                fail(400, "bare LF (lines must end with CRLF)");
                return false;
            }
            line = input.substr(line_start_, i - 1 - line_start_);
            pos_ = i + 1;
            return true;
        }
        // The bytes up to the next CR or LF need no decision, unless they are part of the
        // request-target or reach the limit: skip them without the checks above.
        if (c != '\r' && !measuring_target) {
            const std::size_t stop = std::min(input.size(), limit_at_);
            while (i + 1 < stop && data[i + 1] != '\r' && data[i + 1] != '\n') ++i;
        }
    }
    pos_ = input.size();
    return false;
}

RequestParser::State RequestParser::run(std::string_view input) {
    while (true) {
        State state = State::incomplete;
        std::string_view line;
        switch (phase_) {
            case Phase::request_line:
                if (!next_line(input, line)) return state_now();
                state = on_request_line(input, line);
                break;
            case Phase::header_lines:
                if (!next_line(input, line)) return state_now();
                state = on_header_line(input, line);
                break;
            case Phase::body_by_length: {
                const std::uint64_t available = input.size() - body_start_;
                if (available < request_.content_length) return State::incomplete;
                state = finish(body_start_ + static_cast<std::size_t>(request_.content_length));
                request_.body = input.substr(body_start_, consumed_ - body_start_);
                break;
            }
            case Phase::chunk_size_line:
                if (!next_line(input, line)) return state_now();
                state = on_chunk_size_line(line);
                break;
            case Phase::chunk_data: {
                const auto take = static_cast<std::size_t>(
                    std::min<std::uint64_t>(input.size() - pos_, chunk_left_));
                chunked_body_.append(input.data() + pos_, take);
                pos_ += take;
                chunk_left_ -= take;
                if (chunk_left_ > 0) return State::incomplete;
                phase_ = Phase::chunk_data_end;
                line_start_ = pos_;
                break;
            }
            case Phase::chunk_data_end:
                // Exactly CRLF after the data: the first wrong byte is the error.
                if (pos_ == input.size()) return State::incomplete;
                if (input[pos_] != (pos_ == line_start_ ? '\r' : '\n')) {
                    return fail(400, "chunk data not followed by CRLF");
                }
                if (++pos_ - line_start_ == 2) {
                    chunk_framing_ += 2;
                    phase_ = Phase::chunk_size_line;
                    begin_chunk_size_line();
                }
                break;
            case Phase::trailer_lines:
                if (!next_line(input, line)) return state_now();
                if (line.empty()) {
                    state = finish(pos_);
                } else {
                    std::string_view name;
                    std::string_view value;
                    const Verdict verdict = split_field_line(line, name, value);
                    if (verdict.status != 0) return fail(verdict.status, verdict.reason);
                    begin_line(pos_, limit_at_, limit_status_, limit_reason_);
                }
                break;
            case Phase::done:
            case Phase::failed:
                return state_now();
        }
        if (state != State::incomplete) return state;
    }
}

RequestParser::State RequestParser::on_request_line(std::string_view input, std::string_view line) {
    if (line.empty()) {  // an empty line before the request line: skip it (RFC 9112 2.2)
        begin_line(pos_, limit_at_, limit_status_, limit_reason_);
        return State::incomplete;
    }
    const RequestLineResult result = parse_request_line(line, limits_, request_);
    if (!result.ok()) return fail(result.status, result.reason);
    method_ = slice_of<Slice>(input, request_.method);
    target_ = slice_of<Slice>(input, request_.target);
    phase_ = Phase::header_lines;
    begin_line(pos_, limit_at_, limit_status_, limit_reason_);
    return State::incomplete;
}

RequestParser::State RequestParser::on_header_line(std::string_view input, std::string_view line) {
    if (line.empty()) return finish_headers();
    if (field_count_ == limits_.max_headers) return fail(431, "too many header fields");
    std::string_view name;
    std::string_view value;
    const Verdict verdict = split_field_line(line, name, value);
    if (verdict.status != 0) return fail(verdict.status, verdict.reason);
    header_storage_[field_count_] = {name, value};
    field_slices_[field_count_] = {slice_of<Slice>(input, name), slice_of<Slice>(input, value)};
    ++field_count_;
    request_.headers = std::span<const Header>(header_storage_.data(), field_count_);
    begin_line(pos_, limit_at_, limit_status_, limit_reason_);
    return State::incomplete;
}

// The header section is complete: decide the framing, then what the fields mean. The order
// of the checks is fixed, so a request with several faults always gets the same answer.
RequestParser::State RequestParser::finish_headers() {
    headers_done_ = true;
    body_start_ = pos_;
    const std::span<const Header> fields = request_.headers;
    const bool http10 = request_.version_minor == 0;

    std::size_t hosts = 0;
    std::size_t lengths = 0;
    bool transfer_encoding = false;
    std::string_view length_text;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (equals_ignoring_case(fields[i].name, "Host")) {
            if (hosts++ == 0) host_index_ = i;
        } else if (equals_ignoring_case(fields[i].name, "Content-Length")) {
            ++lengths;
            length_text = fields[i].value;
        } else if (equals_ignoring_case(fields[i].name, "Transfer-Encoding")) {
            transfer_encoding = true;
        }
    }

    // RFC 9112 section 3.2: 400 for an HTTP/1.1 request without Host, for any request
    // with more than one, and for an invalid value.
    if (hosts > 1) return fail(400, "more than one Host header field");
    if (hosts == 0 && !http10) return fail(400, "HTTP/1.1 request without a Host header field");
    if (hosts == 1) {
        has_host_ = true;
        request_.host = fields[host_index_].value;
        if (!is_valid_host(request_.host)) return fail(400, "invalid Host header field value");
    }

    if (transfer_encoding) {
        // RFC 9112 section 6.1: HTTP/1.0 has no Transfer-Encoding; the framing is faulty.
        if (http10) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        // RFC 9112 section 6.1 lets a server reject both together: a proxy that believes the
        // other header would see a different request boundary (request smuggling).
        if (lengths > 0) return fail(400, "both Content-Length and Transfer-Encoding");
        std::size_t codings = 0;
        std::size_t chunked = 0;
        bool last_is_chunked = false;
        bool bad_coding = false;
        for (const Header& field : fields) {
            if (!equals_ignoring_case(field.name, "Transfer-Encoding")) continue;
            for_each_element(field.value, [&](std::string_view coding) {
                // transfer-coding = token *( OWS ";" OWS transfer-parameter ): chunked has
                // no parameters, so "chunked;x=1" is not chunked.
                ++codings;
                const std::string_view name = trim_ows(coding.substr(0, coding.find(';')));
                bad_coding = bad_coding || !is_token(name);
                last_is_chunked = equals_ignoring_case(coding, "chunked");
                if (last_is_chunked) ++chunked;
                return true;
            });
        }
        if (codings == 0 || bad_coding) return fail(400, "malformed Transfer-Encoding");
        if (!last_is_chunked) return fail(400, "Transfer-Encoding does not end with chunked");
        if (chunked > 1) return fail(400, "chunked applied more than once");
        if (codings > 1) return fail(501, "transfer coding not implemented (only chunked is)");
        request_.framing = BodyFraming::chunked;
    } else if (lengths > 0) {
        if (lengths > 1) return fail(400, "more than one Content-Length field");
        // Content-Length = 1*DIGIT (RFC 9110 section 8.6): no sign, no list, no spaces.
        if (length_text.empty()) return fail(400, "invalid Content-Length");
        std::uint64_t length = 0;
        for (const char c : length_text) {
            if (!is_digit(c)) return fail(400, "invalid Content-Length");
            const auto digit = static_cast<std::uint64_t>(c - '0');
            if (length > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
                return fail(400, "Content-Length does not fit in 64 bits");
            }
            length = length * 10 + digit;
        }
        // Refuse before the body arrives: the client may be waiting for 100 Continue, and
        // we will not hold that much anyway.
        if (length > limits_.max_body) return fail(413, "Content-Length over the body limit");
        request_.framing = BodyFraming::content_length;
        request_.content_length = length;
    }

    // Connection (RFC 9112 section 9.3): HTTP/1.1 persists unless "close"; HTTP/1.0 only
    // with "keep-alive".
    bool close = false;
    bool keep_alive = false;
    bool expect_continue = false;
    for (const Header& field : fields) {
        if (equals_ignoring_case(field.name, "Connection")) {
            for_each_element(field.value, [&](std::string_view option) {
                close = close || equals_ignoring_case(option, "close");
                keep_alive = keep_alive || equals_ignoring_case(option, "keep-alive");
                return true;
            });
        } else if (equals_ignoring_case(field.name, "Expect") && !http10) {
            for_each_element(field.value, [&](std::string_view expectation) {
                expect_continue =
                    expect_continue || equals_ignoring_case(expectation, "100-continue");
                return true;
            });
        }
    }
    request_.keep_alive = !close && (!http10 || keep_alive);
    request_.expect_continue = expect_continue;

    switch (request_.framing) {
        case BodyFraming::none:
            return finish(pos_);
        case BodyFraming::content_length:
            phase_ = Phase::body_by_length;
            return State::incomplete;  // run() finishes it, even for a length of 0
        case BodyFraming::chunked:
            phase_ = Phase::chunk_size_line;
            begin_chunk_size_line();
            return State::incomplete;
    }
    return State::incomplete;
}

// chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk = 1*"0" [ chunk-ext ] CRLF
// (RFC 9112 section 7.1).
RequestParser::State RequestParser::on_chunk_size_line(std::string_view line) {
    chunk_framing_ += line.size() + 2;
    std::size_t digits = 0;
    std::uint64_t size = 0;
    bool too_large = false;
    while (digits < line.size() && is_hexdig(line[digits])) {
        if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
            too_large = true;
        } else {
            size = size * 16 + hex_value(line[digits]);
        }
        ++digits;
    }
    if (digits == 0) return fail(400, "chunk size is not a hexadecimal number");
    if (!is_valid_chunk_extension(line.substr(digits))) {
        return fail(400, "malformed chunk extension");
    }
    if (too_large || size > limits_.max_body - chunked_body_.size()) {
        return fail(413, "chunked body over the body limit");
    }
    if (size == 0) {
        phase_ = Phase::trailer_lines;
        trailer_start_ = pos_;
        begin_line(pos_, saturating_add(trailer_start_, limits_.max_header_bytes), 431,
                   "trailer fields too large");
    } else {
        phase_ = Phase::chunk_data;
        chunk_left_ = size;
    }
    return State::incomplete;
}

}  // namespace http_min
