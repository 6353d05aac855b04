// The text rules shared by the parts of the request parser: see message_text.hpp.
#include "message_text.hpp"

#include <algorithm>

#include "http_min/request_line.hpp"  // is_token()

namespace http_min::text {

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

LineRead read_line(std::string_view input, const LineBounds& bounds, std::size_t& pos,
                   std::string_view& line, Verdict& error) noexcept {
    const char* const data = input.data();
    for (std::size_t i = pos; i < input.size(); ++i) {
        const char c = data[i];
        if (i >= bounds.limit_at) {
            error = bounds.limit;
            pos = i;
            return LineRead::error;
        }
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
