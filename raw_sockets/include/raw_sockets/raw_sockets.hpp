/// \file
/// \brief Everything in the raw_sockets library, for programs that want it all.
#pragma once

#include "raw_sockets/address.hpp"
#include "raw_sockets/credentials.hpp"
#include "raw_sockets/descriptors.hpp"
#include "raw_sockets/echo.hpp"
#include "raw_sockets/epoll.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/fd.hpp"
#include "raw_sockets/framing.hpp"
#include "raw_sockets/lifecycle.hpp"
#include "raw_sockets/namespaces.hpp"
#include "raw_sockets/program.hpp"
#include "raw_sockets/serving.hpp"
#include "raw_sockets/socket.hpp"
#include "raw_sockets/socket_path.hpp"
