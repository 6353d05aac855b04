// Chapter 08: the ChunkedDecoder alone, the request parser's third part. RequestParser's tests
// (lesson08_request_parser_test.cpp) check every rule of the chunked coding through whole
// requests; these check what the decoder promises on its own: the body grows as chunks
// arrive, the bytes after the body are left alone, any split of the input decodes the same.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http_min/chunked_decoder.hpp"

namespace {

using http_min::ChunkedDecoder;
using State = ChunkedDecoder::State;

constexpr std::string_view body = "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 9\r\n\r\n";

TEST(ChunkedDecoder, DecodesTheBodyAndLeavesWhatFollows) {
    ChunkedDecoder decoder(1024, 1024);
    const std::string input = std::string(body) + "GET / HTTP/1.1\r\n";
    ASSERT_EQ(decoder.decode(input), State::complete);
    EXPECT_EQ(decoder.body(), "hello, world");
    EXPECT_EQ(decoder.consumed(), body.size());
}

TEST(ChunkedDecoder, BodyGrowsAsTheChunksArrive) {
    ChunkedDecoder decoder(1024, 1024);
    EXPECT_EQ(decoder.decode(body.substr(0, 12)), State::incomplete);  // "5;ext=1\r\nhel"
    EXPECT_EQ(decoder.body(), "hel");
    EXPECT_EQ(decoder.decode(body), State::complete);
    EXPECT_EQ(decoder.body(), "hello, world");
}

TEST(ChunkedDecoder, ByteAtATimeEqualsWhole) {
    ChunkedDecoder decoder(1024, 1024);
    std::string received;  // grows and moves, as a server's buffer does
    State state = State::incomplete;
    for (const char c : body) {
        received.push_back(c);
        state = decoder.decode(received);
        if (state != State::incomplete) break;
    }
    EXPECT_EQ(state, State::complete);
    EXPECT_EQ(received.size(), body.size());  // complete at the last byte, not before
    EXPECT_EQ(decoder.body(), "hello, world");
}

TEST(ChunkedDecoder, LimitsGiveTheirStatus) {
    ChunkedDecoder small_body(8, 1024);
    EXPECT_EQ(small_body.decode(body), State::error);  // 5 + 7 > 8, at the second size line
    EXPECT_EQ(small_body.error_status(), 413);
    ChunkedDecoder small_trailers(1024, 4);
    EXPECT_EQ(small_trailers.decode(body), State::error);  // "X-Sum: 9" is 8 bytes
    EXPECT_EQ(small_trailers.error_status(), 431);
}

TEST(ChunkedDecoder, ResetForgetsTheBodyAndKeepsItsBuffer) {
    const std::string large = "28\r\n" + std::string(40, 'x') + "\r\n0\r\n\r\n";  // past SSO
    ChunkedDecoder decoder(1024, 1024);
    ASSERT_EQ(decoder.decode(large), State::complete);
    const char* const buffer = decoder.body().data();
    decoder.reset();
    EXPECT_EQ(decoder.body(), "");
    ASSERT_EQ(decoder.decode(large), State::complete);
    EXPECT_EQ(decoder.body(), std::string(40, 'x'));
    EXPECT_EQ(decoder.body().data(), buffer);  // the same storage: no new allocation
}

}  // namespace
