// Line framing: a message ends at '\n'. Simple and readable with telnet or nc, but the
// payload can never contain a newline, and the reader must bound the line it buffers.
#include <array>
#include <stdexcept>

#include "raw_sockets/error.hpp"
#include "raw_sockets/framing.hpp"

namespace raw_sockets {

void send_line(Socket& socket, std::string_view line) {
    if (line.find('\n') != std::string_view::npos) {
        throw std::invalid_argument("send_line: the line contains a newline");
    }
    std::string framed(line);
    framed += '\n';
    socket.send_all(framed);  // one write: the peer may still receive it in pieces
}

//! [read-line]
std::optional<std::string> LineReader::read_line() {
    std::size_t searched = 0;  // bytes of buffer_ already known to hold no '\n'
    for (;;) {
        const std::size_t newline = buffer_.find('\n', searched);
        const std::size_t line_length = newline == std::string::npos ? buffer_.size() : newline;
        if (line_length > max_line_) {
            throw ProtocolError("recv(" + socket_.name() + "): a line longer than " +
                                std::to_string(max_line_) + " bytes");
        }
        if (newline != std::string::npos) {
            std::string line = buffer_.substr(0, newline);
            buffer_.erase(0, newline + 1);  // keep what came after: the next line's start
            return line;
        }
        searched = buffer_.size();
        std::array<std::byte, 4096> chunk;
        const std::size_t received = socket_.recv_some(chunk);
        if (received == 0) {
            if (buffer_.empty()) return std::nullopt;
            throw ProtocolError("recv(" + socket_.name() + "): peer closed inside a line");
        }
        buffer_.append(reinterpret_cast<const char*>(chunk.data()), received);
    }
}
//! [read-line]

}  // namespace raw_sockets
