// Single entry point to Boost.Asio: Boost 1.74's awaitable.hpp uses std::exchange without <utility>.
#pragma once
#include <utility>
#include <boost/asio.hpp>
