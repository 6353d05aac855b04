// echo_threads: the echo server with one thread per client.
//
// Step 3 of chapter 04's progression (after echo_fork, before echo_poll). A thread is
// cheaper than a process and shares the server's memory, which is both its advantage and
// its danger; here the threads share nothing but a counter of how many are running.
//
//   echo_threads unix:/tmp/echo.sock
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// Threads are detached, so the server counts them to wait for the last one at shutdown.
class RunningClients {
  public:
    void started() {
        std::lock_guard lock(mutex_);
        ++count_;
    }
    void finished() {
        std::lock_guard lock(mutex_);
        if (--count_ == 0) idle_.notify_all();
        changed_.notify_all();
    }
    void wait_until_idle() {
        std::unique_lock lock(mutex_);
        idle_.wait(lock, [this] { return count_ == 0; });
    }
    // Waits until at least one of the clients running now has finished.
    void wait_for_one_to_finish() {
        std::unique_lock lock(mutex_);
        const int now = count_;
        changed_.wait(lock, [this, now] { return count_ < now || count_ == 0; });
    }

  private:
    std::mutex mutex_;
    std::condition_variable idle_;
    std::condition_variable changed_;
    int count_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        if (args.size() != 1) throw UsageError("expected one address");
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        RunningClients running;
        //! [threads]
        while (stop.wait_readable(listener)) {
            Socket client;
            try {
                client = accept_connection(listener);
            } catch (const SocketError& error) {
                if (!out_of_descriptors(error)) throw;
                // Out of descriptors: wait for a client to leave rather than spin or die.
                std::cerr << error.what() << ": waiting for a client to leave" << std::endl;
                running.wait_for_one_to_finish();
                continue;
            }
            running.started();
            // The thread owns the connection: it is moved in, and closed when the thread ends.
            std::thread([&running, client = std::move(client)]() mutable {
                try {
                    echo_until_eof(client);
                } catch (const std::exception& error) {
                    std::cerr << "client " << client.name() << ": " << error.what() << std::endl;
                }
                client.close();
                running.finished();
            }).detach();
        }
        //! [threads]
        listener.close();
        running.wait_until_idle();
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
