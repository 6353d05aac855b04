#include "http_min/response.hpp"

#include <charconv>
#include <ctime>

namespace http_min {

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

std::string_view http_date() {
    thread_local std::time_t formatted_at = -1;
    thread_local char text[32];
    thread_local std::size_t length = 0;
    const std::time_t now = std::time(nullptr);
    if (now != formatted_at) {
        std::tm utc{};
        gmtime_r(&now, &utc);
        length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
        formatted_at = now;
    }
    return {text, length};
}

void append_number(std::string& out, std::uint64_t value) {
    char digits[24];
    const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
}

void ResponseWriter::write_head(int status, std::string_view content_type, std::uint64_t length,
                                bool keep_alive, std::string_view extra_headers) {
    out_ += "HTTP/1.1 ";
    append_number(out_, static_cast<std::uint64_t>(status));
    out_ += ' ';
    out_ += reason_phrase(status);
    out_ += "\r\nServer: http_min\r\nDate: ";
    out_ += http_date();
    out_ += "\r\nContent-Type: ";
    out_ += content_type;
    out_ += "\r\nContent-Length: ";
    append_number(out_, length);
    if (!keep_alive) {
        out_ += "\r\nConnection: close";
    } else if (announce_keep_alive_) {
        out_ += "\r\nConnection: keep-alive";
    }
    out_ += "\r\n";
    out_ += extra_headers;
    out_ += "\r\n";
}

void ResponseWriter::write(int status, std::string_view content_type, std::string_view body,
                           bool keep_alive, bool head_only, std::string_view extra_headers) {
    write_head(status, content_type, body.size(), keep_alive, extra_headers);
    if (!head_only) out_ += body;
}

void ResponseWriter::write_continue() {
    out_ += "HTTP/1.1 100 Continue\r\n\r\n";
}

}  // namespace http_min
