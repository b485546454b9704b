# embed.cmake: writes OUTPUT, a C++ source whose keel::internal::ui_page()
# returns the bytes of INPUT (tools/ui/index.html), so that `keel ui` needs
# no files at run time. Run by the build (tools/CMakeLists.txt):
#   cmake -DINPUT=index.html -DOUTPUT=ui_page.cc -P embed.cmake
file(READ "${INPUT}" content)
string(FIND "${content}" ")keelui\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )keelui\"")
endif()
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by tools/ui/embed.cmake; do not edit.
#include \"ui_server.h\"

namespace keel::internal {

std::string_view ui_page() {
  static constexpr char kPage[] = R\"keelui(${content})keelui\";
  return {kPage, sizeof kPage - 1};
}

}  // namespace keel::internal
")
