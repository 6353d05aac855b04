// Chapter 08: decide_framing(), the part of the request parser that says what the header
// fields mean: how the body is framed (none, Content-Length, chunked), whether the connection
// persists, whether the client waits for "100 Continue", or which error to answer. It is a
// pure function of the fields and the version, so each rule is one row of a table, named
// for what it shows and citing the section of RFC 9110 or RFC 9112 it follows. Where the RFC
// lets a server choose, the row says which choice http_min makes ("strict").
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_min/framing.hpp"

namespace {

using http_min::BodyFraming;
using http_min::decide_framing;
using http_min::FramingDecision;
using http_min::Header;

// Every row is judged with this body limit.
constexpr std::uint64_t max_body = 16;

// What a row expects: an error (status and a part of its reason), or a decision.
struct Expected {
    int status = 0;
    std::string_view reason;  // for an error: a part of the reason
    BodyFraming framing = BodyFraming::none;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    bool expect_continue = false;
};

Expected error(int status, std::string_view reason) {
    return {status, reason};
}
Expected no_body(bool keep_alive = true) {
    return {0, {}, BodyFraming::none, 0, keep_alive};
}
Expected length(std::uint64_t length, bool expect_continue = false, bool keep_alive = true) {
    return {0, {}, BodyFraming::content_length, length, keep_alive, expect_continue};
}
Expected chunked() {
    return {0, {}, BodyFraming::chunked};
}

struct Rule {
    const char* name;  // what the row shows (its test name)
    const char* rfc;   // the section it follows
    int version_minor;
    std::vector<Header> fields;
    Expected expected;
};

Rule row(const char* name, const char* rfc, int version_minor, std::vector<Header> fields,
         Expected expected) {
    return {name, rfc, version_minor, std::move(fields), expected};
}

[[maybe_unused]] void PrintTo(const Rule& rule, std::ostream* out) {
    *out << rule.name << " (" << rule.rfc << "): HTTP/1." << rule.version_minor;
    for (const Header& field : rule.fields)
        *out << " [" << field.name << ": " << field.value << "]";
}

const Header host{"Host", "example.com"};

// One row per rule, in the order decide_framing() checks them.
const std::vector<Rule> rules = {
    // ---- Host ----
    row("Http11WithoutHostIs400", "RFC 9112 3.2", 1, {}, error(400, "without a Host")),
    row("Http10MayOmitHost", "RFC 9112 3.2", 0, {}, no_body(false)),
    row("TwoHostsAre400", "RFC 9112 3.2", 1, {host, {"host", "b"}},
        error(400, "more than one Host")),
    row("TwoHostsAre400InHttp10Too", "RFC 9112 3.2", 0, {host, host},
        error(400, "more than one Host")),
    row("InvalidHostIs400", "RFC 9112 3.2, RFC 9110 7.2", 1, {{"Host", "a b"}},
        error(400, "invalid Host")),
    row("EmptyHostIsValid", "RFC 9110 7.2", 1, {{"Host", ""}}, no_body()),
    row("HostMayBeAnIpLiteralWithAPort", "RFC 9110 7.2, RFC 3986 3.2.2", 1,
        {{"Host", "[::1]:8080"}}, no_body()),
    row("HostIsCheckedBeforeTheFraming", "RFC 9112 3.2 (strict: a fixed order)", 1,
        {{"Content-Length", "1"}, {"Transfer-Encoding", "chunked"}}, error(400, "without a Host")),
    // ---- Transfer-Encoding ----
    row("ChunkedFramesTheBody", "RFC 9112 6.3", 1, {host, {"Transfer-Encoding", "chunked"}},
        chunked()),
    row("ChunkedIsCaseInsensitive", "RFC 9112 7", 1, {host, {"transfer-encoding", "Chunked"}},
        chunked()),
    row("TransferEncodingInHttp10Is400", "RFC 9112 6.1", 0, {{"Transfer-Encoding", "chunked"}},
        error(400, "HTTP/1.0")),
    row("ContentLengthWithTransferEncodingIs400", "RFC 9112 6.1 (strict: MAY reject; smuggling)", 1,
        {host, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}},
        error(400, "both Content-Length and Transfer-Encoding")),
    row("EmptyTransferEncodingIs400", "RFC 9112 6.1", 1, {host, {"Transfer-Encoding", ""}},
        error(400, "malformed Transfer-Encoding")),
    row("TransferEncodingNotEndingWithChunkedIs400", "RFC 9112 6.3", 1,
        {host, {"Transfer-Encoding", "gzip"}}, error(400, "does not end with chunked")),
    row("ChunkedBeforeAnotherCodingIs400", "RFC 9112 6.3", 1,
        {host, {"Transfer-Encoding", "chunked, gzip"}}, error(400, "does not end with chunked")),
    row("ChunkedWithAParameterIsNotChunked", "RFC 9112 7", 1,
        {host, {"Transfer-Encoding", "chunked;x=1"}}, error(400, "does not end with chunked")),
    row("ChunkedTwiceIs400", "RFC 9112 6.1", 1, {host, {"Transfer-Encoding", "chunked, chunked"}},
        error(400, "more than once")),
    row("CodingBeforeChunkedIs501", "RFC 9112 6.1", 1,
        {host, {"Transfer-Encoding", "gzip, chunked"}}, error(501, "not implemented")),
    row("TransferEncodingFieldsMakeOneList", "RFC 9110 5.3", 1,
        {host, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}},
        error(501, "not implemented")),
    // ---- Content-Length ----
    row("ContentLengthFramesTheBody", "RFC 9112 6.3", 1, {host, {"Content-Length", "5"}},
        length(5)),
    row("ZeroContentLengthIsABody", "RFC 9110 8.6", 1, {host, {"Content-Length", "0"}}, length(0)),
    row("ContentLengthAtTheLimitIsAccepted", "RFC 9110 8.6", 1, {host, {"Content-Length", "16"}},
        length(16)),
    row("ContentLengthOverTheLimitIs413", "RFC 9110 15.5.14", 1, {host, {"Content-Length", "17"}},
        error(413, "over the body limit")),
    row("RepeatedContentLengthIs400", "RFC 9110 8.6 (strict: MAY accept identical values)", 1,
        {host, {"Content-Length", "5"}, {"Content-Length", "5"}},
        error(400, "more than one Content-Length")),
    row("ContentLengthListIs400", "RFC 9110 8.6 (strict: MAY accept identical values)", 1,
        {host, {"Content-Length", "5, 5"}}, error(400, "invalid Content-Length")),
    row("SignedContentLengthIs400", "RFC 9110 8.6", 1, {host, {"Content-Length", "+5"}},
        error(400, "invalid Content-Length")),
    row("ContentLengthOver64BitsIs400", "RFC 9110 8.6", 1,
        {host, {"Content-Length", "18446744073709551616"}}, error(400, "64 bits")),
    // ---- Connection ----
    row("Http11PersistsByDefault", "RFC 9112 9.3", 1, {host}, no_body(true)),
    row("ConnectionCloseEndsHttp11", "RFC 9112 9.6", 1, {host, {"Connection", "close"}},
        no_body(false)),
    row("CloseIsFoundInAListInAnyCase", "RFC 9110 7.6.1", 1,
        {host, {"Connection", "upgrade, CLOSE"}}, no_body(false)),
    row("CloseIsFoundInASecondField", "RFC 9110 5.3", 1,
        {host, {"Connection", "te"}, {"Connection", "Close"}}, no_body(false)),
    row("ClosedIsAnotherOption", "RFC 9110 7.6.1", 1, {host, {"Connection", "closed"}},
        no_body(true)),
    row("Http10ClosesByDefault", "RFC 9112 9.3", 0, {}, no_body(false)),
    row("Http10PersistsWithKeepAlive", "RFC 9112 C.2.2", 0, {{"Connection", "Keep-Alive"}},
        no_body(true)),
    row("CloseWinsOverKeepAlive", "RFC 9112 9.3", 0, {{"Connection", "keep-alive, close"}},
        no_body(false)),
    // ---- Expect ----
    row("ExpectContinueIsReported", "RFC 9110 10.1.1", 1,
        {host, {"Content-Length", "5"}, {"Expect", "100-Continue"}}, length(5, true)),
    row("OtherExpectationsAreIgnored", "RFC 9110 10.1.1 (strict: MAY answer 417; no 417 here)", 1,
        {host, {"Content-Length", "5"}, {"Expect", "something-else"}}, length(5, false)),
    row("ExpectationsAreIgnoredInHttp10", "RFC 9110 10.1.1", 0,
        {{"Content-Length", "5"}, {"Expect", "100-continue"}}, length(5, false, false)),
};

class FramingRule : public ::testing::TestWithParam<Rule> {};

TEST_P(FramingRule, DecidesAsTheRfcSays) {
    const Rule& rule = GetParam();
    const FramingDecision decision = decide_framing(rule.fields, rule.version_minor, max_body);
    const Expected& expected = rule.expected;
    EXPECT_EQ(decision.status, expected.status) << decision.reason;
    if (expected.status != 0) {
        EXPECT_NE(decision.reason.find(expected.reason), std::string_view::npos)
            << "reason: " << decision.reason;
        return;
    }
    EXPECT_EQ(decision.framing, expected.framing);
    EXPECT_EQ(decision.content_length, expected.content_length);
    EXPECT_EQ(decision.keep_alive, expected.keep_alive);
    EXPECT_EQ(decision.expect_continue, expected.expect_continue);
}

INSTANTIATE_TEST_SUITE_P(Rfc9110And9112, FramingRule, ::testing::ValuesIn(rules),
                         [](const ::testing::TestParamInfo<Rule>& tested) {
                             return std::string(tested.param.name);
                         });

TEST(DecideFraming, HostIsAViewOfTheHostFieldValue) {
    const std::vector<Header> fields = {{"Accept", "*/*"}, {"HOST", "example.com:80"}};
    const FramingDecision decision = decide_framing(fields, 1, max_body);
    ASSERT_TRUE(decision.ok()) << decision.reason;
    EXPECT_EQ(decision.host.data(), fields[1].value.data());          // not a copy
    EXPECT_EQ(decide_framing({}, 0, max_body).host.data(), nullptr);  // none in HTTP/1.0
}

}  // namespace
