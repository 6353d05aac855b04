// ChunkedDecoder: a chunked body (RFC 9112 section 7.1), decoded as its bytes arrive.
//
// Like the head, every byte is examined once, in order, and every decision is taken at a
// definite byte (the LF that ends a size line, the first byte over a limit, the first wrong
// byte of the CRLF after the data): the body fed whole or one byte at a time gives the same
// answer.
#include "http_min/chunked_decoder.hpp"

#include <algorithm>
#include <limits>

#include "http_min/request_line.hpp"  // is_tchar()
#include "message_text.hpp"

namespace http_min {

namespace {

using text::is_ows;

// A chunk-size line, chunk extensions included, may be this long (CRLF included): the
// extensions are ignored, but RFC 9112 section 7.1.1 asks to bound them.
constexpr std::size_t max_size_line = 1024;
// The chunked framing (size lines and CRLFs) may take max_body plus this many bytes, so a
// body sent in tiny chunks cannot make the server hold much more than max_body.
constexpr std::size_t framing_allowance = 1024;

unsigned hex_value(char c) {
    if (text::is_digit(c)) return static_cast<unsigned>(c - '0');
    return static_cast<unsigned>(text::to_lower(c) - 'a' + 10);
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

}  // namespace

ChunkedDecoder::ChunkedDecoder(std::size_t max_body, std::size_t max_trailer_bytes) noexcept
    : max_body_(max_body), max_trailer_bytes_(max_trailer_bytes) {
    reset();
}

void ChunkedDecoder::reset() noexcept {
    body_.clear();  // keeps the capacity for the next body
    phase_ = Phase::size_line;
    pos_ = 0;
    chunk_left_ = 0;
    framing_ = 0;
    consumed_ = 0;
    error_status_ = 0;
    error_reason_ = {};
    begin_size_line();
}

ChunkedDecoder::State ChunkedDecoder::fail(int status, std::string_view reason) noexcept {
    phase_ = Phase::failed;
    error_status_ = status;
    error_reason_ = reason;
    return State::error;
}

// A size line starts at pos_: it may take 1 KiB, and no more than what is left of the
// framing's allowance.
void ChunkedDecoder::begin_size_line() noexcept {
    const std::size_t line_limit = text::saturating_add(pos_, max_size_line);
    const std::size_t budget = text::saturating_add(max_body_, framing_allowance);
    const std::size_t budget_limit =
        text::saturating_add(pos_, budget > framing_ ? budget - framing_ : 0);
    line_start_ = pos_;
    if (budget_limit < line_limit) {
        line_limit_ = budget_limit;
        limit_status_ = 413;
        limit_reason_ = "chunked framing too large for the body limit";
    } else {
        line_limit_ = line_limit;
        limit_status_ = 400;
        limit_reason_ = "chunk-size line (with extensions) too long";
    }
}

//! [decode]
ChunkedDecoder::State ChunkedDecoder::decode(std::string_view input) {
    while (true) {
        switch (phase_) {
            case Phase::size_line:
            case Phase::trailer_lines: {
                std::string_view line;
                text::Verdict error;
                const text::LineBounds bounds{
                    line_start_, line_limit_, {limit_status_, limit_reason_}};
                const text::LineRead read = text::read_line(input, bounds, pos_, line, error);
                if (read == text::LineRead::more) return State::incomplete;
                if (read == text::LineRead::error) return fail(error.status, error.reason);
                if (phase_ == Phase::size_line) {
                    const State state = on_size_line(line);
                    if (state != State::incomplete) return state;
                } else if (line.empty()) {  // the end of the trailer section: the body's end
                    phase_ = Phase::done;
                    consumed_ = pos_;
                    return State::complete;
                } else {  // a trailer field: checked like a header field, then dropped
                    std::string_view name;
                    std::string_view value;
                    const text::Verdict verdict = text::split_field_line(line, name, value);
                    if (verdict.status != 0) return fail(verdict.status, verdict.reason);
                    line_start_ = pos_;  // the trailer section's limit stays where it is
                }
                break;
            }
            case Phase::data: {
                const auto take = static_cast<std::size_t>(
                    std::min<std::uint64_t>(input.size() - pos_, chunk_left_));
                body_.append(input.data() + pos_, take);
                pos_ += take;
                chunk_left_ -= take;
                if (chunk_left_ > 0) return State::incomplete;
                phase_ = Phase::data_end;
                line_start_ = pos_;
                break;
            }
            case Phase::data_end:
                // Exactly CRLF after the data: the first wrong byte is the error.
                if (pos_ == input.size()) return State::incomplete;
                if (input[pos_] != (pos_ == line_start_ ? '\r' : '\n')) {
                    return fail(400, "chunk data not followed by CRLF");
                }
                if (++pos_ - line_start_ == 2) {
                    framing_ += 2;
                    phase_ = Phase::size_line;
                    begin_size_line();
                }
                break;
            case Phase::done:
                return State::complete;
            case Phase::failed:
                return State::error;
        }
    }
}
//! [decode]

// chunk-size [ chunk-ext ]: the size of the data to come, or 0 for the last chunk.
ChunkedDecoder::State ChunkedDecoder::on_size_line(std::string_view line) {
    framing_ += line.size() + 2;
    std::size_t digits = 0;
    std::uint64_t size = 0;
    bool too_large = false;
    while (digits < line.size() && text::is_hexdig(line[digits])) {
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
    if (too_large || size > max_body_ - body_.size()) {
        return fail(413, "chunked body over the body limit");
    }
    if (size == 0) {  // the last chunk: the trailer section follows, bounded like a header one
        phase_ = Phase::trailer_lines;
        line_start_ = pos_;
        line_limit_ = text::saturating_add(pos_, max_trailer_bytes_);
        limit_status_ = 431;
        limit_reason_ = "trailer fields too large";
    } else {
        phase_ = Phase::data;
        chunk_left_ = size;
    }
    return State::incomplete;
}

}  // namespace http_min
