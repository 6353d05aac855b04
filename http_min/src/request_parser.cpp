// RequestParser: the head of a request (the request line and the header fields, RFC 9112
// sections 2 to 5), and the driver of the parser's other two parts: decide_framing()
// (framing.cpp) judges the fields, a ChunkedDecoder (chunked_decoder.cpp) reads a chunked
// body, and a Content-Length body is a view into the input.
//
// How it stays the same however the bytes arrive: every input byte is examined once, in
// order, and every decision is taken at a definite byte (the LF that ends a line, the first
// byte over a limit, the byte after a bare CR). A request fed whole and the same request fed
// one byte at a time therefore take the same decisions at the same bytes. parse() resumes at
// pos_, the first byte not yet examined, so feeding a request in n pieces costs O(length),
// not O(length * n).
//
// Where the RFC leaves a choice, the head takes the strict and simple one:
// - a bare LF ends nothing: 400 (RFC 9112 section 2.2 allows accepting it; we do not);
// - empty lines before the request line are skipped (RFC 9112 section 2.2 SHOULD).
// The choices about framing are decide_framing()'s (framing.cpp), those about chunked bodies
// the decoder's (chunked_decoder.cpp).
#include "http_min/request_parser.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>

#include "http_min/request_line.hpp"
#include "message_text.hpp"

namespace http_min {

namespace {

constexpr std::string_view header_section_too_large = "request line and header fields too large";

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
        if (text::equals_ignoring_case(field.name, name)) return field.value;
    }
    return {};
}

RequestParser::RequestParser(const ParserLimits& limits)
    : limits_(limits), chunked_(limits.max_body, limits.max_header_bytes) {
    if (limits_.max_headers > header_capacity) {
        throw std::invalid_argument("RequestParser: ParserLimits::max_headers is larger than " +
                                    std::to_string(header_capacity));
    }
    reset();
}

void RequestParser::reset() noexcept {
    request_ = Request{};
    chunked_.reset();  // keeps the body buffer's capacity for the next chunked request
    consumed_ = 0;
    error_status_ = 0;
    error_reason_ = {};
    phase_ = Phase::request_line;
    headers_done_ = false;
    base_ = 0;
    pos_ = 0;
    begin_line(0);
    method_ = {};
    target_ = {};
    field_count_ = 0;
    host_ = {};
    has_host_ = false;
    body_start_ = 0;
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
    if (request_.framing == BodyFraming::chunked) request_.body = chunked_.body();
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
    if (has_host_) request_.host = view_of(input, host_);
    if (phase_ == Phase::done && request_.framing == BodyFraming::content_length) {
        request_.body =
            input.substr(body_start_, static_cast<std::size_t>(request_.content_length));
    }
}

// A new line of the head starts at `start`.
void RequestParser::begin_line(std::size_t start) noexcept {
    line_start_ = start;
    target_start_ = 0;
    target_done_ = false;
}

// Examines the bytes of the current line from pos_ on. True when the line's LF arrived:
// `line` is then the line without its CRLF and pos_ the first byte after it. False when more
// bytes are needed, or on an error (phase_ is then failed).
bool RequestParser::next_line(std::string_view input, std::string_view& line) {
    const std::size_t from = pos_;
    text::Verdict error;
    const text::LineRead read = text::read_line(
        input, {line_start_, limits_.max_header_bytes, {431, header_section_too_large}}, pos_, line,
        error);
    // In the request line, 414 comes first: up to the byte read_line() stopped at, included,
    // since at the same byte the target's length is judged before the line's.
    if (phase_ == Phase::request_line && !target_done_ &&
        target_too_long(input, from, read == text::LineRead::error ? pos_ + 1 : pos_)) {
        fail(414, "request-target too long");
        return false;
    }
    if (read == text::LineRead::error) fail(error.status, error.reason);
    return read == text::LineRead::line;
}

// Measures the request-target in the bytes [from, to) of the request line: true as soon as it
// is longer than the limit, before the line ends, so that a client cannot make us hold a
// target longer than the limit.
bool RequestParser::target_too_long(std::string_view input, std::size_t from,
                                    std::size_t to) noexcept {
    for (std::size_t i = from; i < to && !target_done_; ++i) {
        const char c = input[i];
        if (target_start_ == 0) {
            if (c == ' ') target_start_ = i + 1;
        } else if (c == ' ' || c == '\r' || c == '\n') {
            target_done_ = true;
        } else if (i - target_start_ >= limits_.max_target) {
            return true;
        }
    }
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
            case Phase::chunked_body:
                switch (chunked_.decode(input.substr(body_start_))) {
                    case ChunkedDecoder::State::incomplete:
                        pos_ = input.size();
                        return State::incomplete;
                    case ChunkedDecoder::State::complete:
                        return finish(body_start_ + chunked_.consumed());
                    case ChunkedDecoder::State::error:
                        return fail(chunked_.error_status(), chunked_.error_reason());
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
        begin_line(pos_);
        return State::incomplete;
    }
    const RequestLineResult result = parse_request_line(line, limits_, request_);
    if (!result.ok()) return fail(result.status, result.reason);
    method_ = slice_of<Slice>(input, request_.method);
    target_ = slice_of<Slice>(input, request_.target);
    phase_ = Phase::header_lines;
    begin_line(pos_);
    return State::incomplete;
}

RequestParser::State RequestParser::on_header_line(std::string_view input, std::string_view line) {
    if (line.empty()) return finish_headers(input);
    if (field_count_ == limits_.max_headers) return fail(431, "too many header fields");
    std::string_view name;
    std::string_view value;
    const text::Verdict verdict = text::split_field_line(line, name, value);
    if (verdict.status != 0) return fail(verdict.status, verdict.reason);
    header_storage_[field_count_] = {name, value};
    field_slices_[field_count_] = {slice_of<Slice>(input, name), slice_of<Slice>(input, value)};
    ++field_count_;
    request_.headers = std::span<const Header>(header_storage_.data(), field_count_);
    begin_line(pos_);
    return State::incomplete;
}

//! [finish_headers]
// The header section is complete: decide_framing() says what the fields mean, then the body
// is read as it says.
RequestParser::State RequestParser::finish_headers(std::string_view input) {
    headers_done_ = true;
    body_start_ = pos_;
    const FramingDecision decision =
        decide_framing(request_.headers, request_.version_minor, limits_.max_body);
    if (!decision.ok()) return fail(decision.status, decision.reason);
    if (decision.host.data() != nullptr) {
        has_host_ = true;
        host_ = slice_of<Slice>(input, decision.host);
        request_.host = decision.host;
    }
    request_.framing = decision.framing;
    request_.content_length = decision.content_length;
    request_.keep_alive = decision.keep_alive;
    request_.expect_continue = decision.expect_continue;

    switch (request_.framing) {
        case BodyFraming::none:
            return finish(pos_);
        case BodyFraming::content_length:
            phase_ = Phase::body_by_length;
            return State::incomplete;  // run() finishes it, even for a length of 0
        case BodyFraming::chunked:
            phase_ = Phase::chunked_body;
            return State::incomplete;  // run() hands the bytes to chunked_
    }
    return State::incomplete;
}
//! [finish_headers]

}  // namespace http_min
