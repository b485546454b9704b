# keel_add_library(NAME <name> HDRS ... SRCS ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
#
# Builds the library target keel_<name> with the alias Keel::<name> and
# EXPORT_NAME <name>. Public headers live in <folder>/include (installed);
# sources and private headers in <folder>/src. Inside the tree, link only the
# Keel:: names.

set(KEEL_LIBRARY_TARGETS "" CACHE INTERNAL "Keel library targets to install")

function(keel_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  # GCC's flow analysis reports false maybe-uninitialized warnings in
  # std::variant/optional code once sanitizer instrumentation is added.
  if(KEEL_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  # asio's handler invocation uses std::atomic_thread_fence, which TSan does
  # not model; GCC says so for every handler (-Wtsan). TSan still checks
  # every access of Keel's own code.
  if(KEEL_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-tsan)
  endif()
  if(KEEL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

function(keel_add_library)
  cmake_parse_arguments(ARG "" "NAME" "HDRS;SRCS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target keel_${ARG_NAME})
  add_library(${target} ${ARG_SRCS} ${ARG_HDRS})
  add_library(Keel::${ARG_NAME} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${ARG_NAME} OUTPUT_NAME keel_${ARG_NAME})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target}
    PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  keel_target_warnings(${target})
  set(KEEL_LIBRARY_TARGETS ${KEEL_LIBRARY_TARGETS} ${target} CACHE INTERNAL "")
endfunction()

# Sanitizer flags apply to everything built in the tree.
if(KEEL_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(KEEL_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT KEEL_SANITIZE STREQUAL "")
  message(FATAL_ERROR "KEEL_SANITIZE must be '', 'address' or 'thread', not '${KEEL_SANITIZE}'")
endif()
