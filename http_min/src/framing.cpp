// decide_framing(): Host, Transfer-Encoding against Content-Length, Connection and Expect
// (RFC 9110, RFC 9112), judged from the parsed header fields alone.
//
// Where the RFC leaves a choice, this takes the strict and simple one:
// - one Content-Length field with one value, or 400 (RFC 9110 section 8.6 lets a recipient
//   take "5, 5" or two identical fields as 5, or reject them: we reject);
// - Content-Length with Transfer-Encoding: 400 (RFC 9112 section 6.1 allows it: the classic
//   request-smuggling disagreement between a proxy and a server);
// - Transfer-Encoding must end with chunked, else 400 (RFC 9112 section 6.3, a MUST); any
//   coding before chunked is one we do not implement: 501 (RFC 9112 section 6.1);
// - an expectation other than 100-continue is ignored (RFC 9110 section 10.1.1: a server
//   MAY answer 417, which our error set does not have), and so is any expectation in an
//   HTTP/1.0 request (there the RFC says MUST ignore).
#include "http_min/framing.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "http_min/request_line.hpp"  // is_token()
#include "message_text.hpp"

namespace http_min {

namespace {

using text::equals_ignoring_case;
using text::for_each_element;
using text::is_digit;
using text::is_hexdig;

FramingDecision reject(int status, std::string_view reason) {
    FramingDecision decision;
    decision.status = status;
    decision.reason = reason;
    return decision;
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

// Transfer-Encoding = #transfer-coding, over all its fields (RFC 9112 section 6.1): only a
// list that ends with chunked, once, and has nothing before it, is one we can read.
FramingDecision transfer_coding_framing(std::span<const Header> fields) {
    std::size_t codings = 0;
    std::size_t chunked = 0;
    bool last_is_chunked = false;
    bool bad_coding = false;
    for (const Header& field : fields) {
        if (!equals_ignoring_case(field.name, "Transfer-Encoding")) continue;
        for_each_element(field.value, [&](std::string_view coding) {
            // transfer-coding = token *( OWS ";" OWS transfer-parameter ): chunked has no
            // parameters, so "chunked;x=1" is not chunked.
            ++codings;
            const std::string_view name = text::trim_ows(coding.substr(0, coding.find(';')));
            bad_coding = bad_coding || !is_token(name);
            last_is_chunked = equals_ignoring_case(coding, "chunked");
            if (last_is_chunked) ++chunked;
            return true;
        });
    }
    if (codings == 0 || bad_coding) return reject(400, "malformed Transfer-Encoding");
    if (!last_is_chunked) return reject(400, "Transfer-Encoding does not end with chunked");
    if (chunked > 1) return reject(400, "chunked applied more than once");
    if (codings > 1) return reject(501, "transfer coding not implemented (only chunked is)");
    FramingDecision decision;
    decision.framing = BodyFraming::chunked;
    return decision;
}

// Content-Length = 1*DIGIT (RFC 9110 section 8.6): no sign, no list, no spaces.
FramingDecision length_framing(std::string_view text, std::uint64_t max_body) {
    if (text.empty()) return reject(400, "invalid Content-Length");
    std::uint64_t length = 0;
    for (const char c : text) {
        if (!is_digit(c)) return reject(400, "invalid Content-Length");
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (length > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return reject(400, "Content-Length does not fit in 64 bits");
        }
        length = length * 10 + digit;
    }
    // Refuse before the body arrives: the client may be waiting for 100 Continue, and we will
    // not hold that much anyway.
    if (length > max_body) return reject(413, "Content-Length over the body limit");
    FramingDecision decision;
    decision.framing = BodyFraming::content_length;
    decision.content_length = length;
    return decision;
}

}  // namespace

//! [decide_framing]
FramingDecision decide_framing(std::span<const Header> fields, int version_minor,
                               std::uint64_t max_body) noexcept {
    const bool http10 = version_minor == 0;
    std::size_t hosts = 0;
    std::size_t lengths = 0;
    bool transfer_encoding = false;
    std::string_view host;
    std::string_view length_text;
    for (const Header& field : fields) {
        if (equals_ignoring_case(field.name, "Host")) {
            if (hosts++ == 0) host = field.value;
        } else if (equals_ignoring_case(field.name, "Content-Length")) {
            ++lengths;
            length_text = field.value;
        } else if (equals_ignoring_case(field.name, "Transfer-Encoding")) {
            transfer_encoding = true;
        }
    }

    // RFC 9112 section 3.2: 400 for an HTTP/1.1 request without Host, for any request with
    // more than one, and for an invalid value.
    if (hosts > 1) return reject(400, "more than one Host header field");
    if (hosts == 0 && !http10) return reject(400, "HTTP/1.1 request without a Host header field");
    if (hosts == 1 && !is_valid_host(host)) return reject(400, "invalid Host header field value");

    FramingDecision decision;
    if (transfer_encoding) {
        // RFC 9112 section 6.1: HTTP/1.0 has no Transfer-Encoding; the framing is faulty.
        if (http10) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
        // RFC 9112 section 6.1 lets a server reject both together: a proxy that believes the
        // other header would see a different request boundary (request smuggling).
        if (lengths > 0) return reject(400, "both Content-Length and Transfer-Encoding");
        decision = transfer_coding_framing(fields);
    } else if (lengths > 1) {
        return reject(400, "more than one Content-Length field");
    } else if (lengths == 1) {
        decision = length_framing(length_text, max_body);
    }
    if (!decision.ok()) return decision;
    decision.host = host;

    // Connection (RFC 9112 section 9.3): HTTP/1.1 persists unless "close"; HTTP/1.0 only
    // with "keep-alive". Expect (RFC 9110 section 10.1.1): only 100-continue, only in 1.1.
    bool close = false;
    bool keep_alive = false;
    for (const Header& field : fields) {
        if (equals_ignoring_case(field.name, "Connection")) {
            for_each_element(field.value, [&](std::string_view option) {
                close = close || equals_ignoring_case(option, "close");
                keep_alive = keep_alive || equals_ignoring_case(option, "keep-alive");
                return true;
            });
        } else if (equals_ignoring_case(field.name, "Expect") && !http10) {
            for_each_element(field.value, [&](std::string_view expectation) {
                decision.expect_continue =
                    decision.expect_continue || equals_ignoring_case(expectation, "100-continue");
                return true;
            });
        }
    }
    decision.keep_alive = !close && (!http10 || keep_alive);
    return decision;
}
//! [decide_framing]

}  // namespace http_min
