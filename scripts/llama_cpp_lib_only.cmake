# Read by CMake right after llama.cpp's project() call (the Makefile passes it to llama-cpp-python's
# build as CMAKE_PROJECT_llama.cpp_INCLUDE). llama-cpp-python loads libllama and libggml only, yet
# switches on llama.cpp's "common" library, the helpers of its command-line tools: half the build.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
