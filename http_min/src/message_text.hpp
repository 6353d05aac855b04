// The text rules that the three parts of the request parser share (not a public header):
// strict line ends, field lines, comma-separated lists, case-insensitive comparison.
// The head (request_parser.cpp) reads the request line and the header fields with them, the
// chunked decoder (chunked_decoder.cpp) its size lines and trailer fields, and the framing
// decision (framing.cpp) its lists.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string_view>

namespace http_min::text {

inline char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    }
    return true;
}

inline bool is_ows(char c) {
    return c == ' ' || c == '\t';
}
inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
inline bool is_hexdig(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

inline std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
    return text;
}

inline std::size_t saturating_add(std::size_t a, std::size_t b) {
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

// A status to answer and why; status 0 means fine.
struct Verdict {
    int status = 0;
    std::string_view reason;  // a string literal
};

// field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5). Splits a line
// (without its CRLF, not empty) into name and trimmed value. Header and trailer fields alike.
Verdict split_field_line(std::string_view line, std::string_view& name, std::string_view& value);

// The line being read: where it starts, the index it may not reach, and the answer for a byte
// at that index or beyond before the line ends.
struct LineBounds {
    std::size_t start = 0;
    std::size_t limit_at = std::numeric_limits<std::size_t>::max();
    Verdict limit;
};

// What read_line() found.
enum class LineRead {
    line,   // a whole line: `line` holds it without its CRLF, `pos` is the byte after the LF
    more,   // no line end yet: `pos` is input.size()
    error,  // `pos` is the faulty byte, `error` says why
};

// Reads a line strictly, the same however the bytes arrive: it examines `input` from `pos`
// (the first byte not examined yet) on, each byte once, and finds an error at a definite
// byte. A line ends with CRLF; a bare CR or a bare LF is 400 (RFC 9112 section 2.2 allows a
// bare LF; we do not: a client and a proxy that disagree about line ends can smuggle
// requests); a byte at bounds.limit_at or beyond is bounds.limit.
// Inline: it runs for every line, and for every call when the bytes come one at a time.
inline LineRead read_line(std::string_view input, const LineBounds& bounds, std::size_t& pos,
                          std::string_view& line, Verdict& error) noexcept {
    const char* const data = input.data();
    for (std::size_t i = pos; i < input.size(); ++i) {
        const char c = data[i];
        if (i >= bounds.limit_at) {
            error = bounds.limit;
            pos = i;
            return LineRead::error;
        }
        // A CR must be followed by LF, anywhere (RFC 9112 section 2.2: a bare CR is invalid).
        if (i > bounds.start && data[i - 1] == '\r' && c != '\n') {
            error = {400, "bare CR (not followed by LF)"};
            pos = i;
            return LineRead::error;
        }
        if (c == '\n') {
            if (i == bounds.start || data[i - 1] != '\r') {
                error = {400, "bare LF (lines must end with CRLF)"};
                pos = i;
                return LineRead::error;
            }
            line = input.substr(bounds.start, i - 1 - bounds.start);
            pos = i + 1;
            return LineRead::line;
        }
        // The bytes up to the next CR or LF need no decision, unless they reach the limit:
        // skip them without the checks above.
        if (c != '\r') {
            const std::size_t stop = std::min(input.size(), bounds.limit_at);
            while (i + 1 < stop && data[i + 1] != '\r' && data[i + 1] != '\n') ++i;
        }
    }
    pos = input.size();
    return LineRead::more;
}

}  // namespace http_min::text
