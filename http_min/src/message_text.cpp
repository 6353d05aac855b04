// The text rules shared by the parts of the request parser: see message_text.hpp.
#include "message_text.hpp"

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

}  // namespace http_min::text
