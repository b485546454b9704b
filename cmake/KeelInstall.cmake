# Installs the Keel libraries, headers and the package config so that
# find_package(Keel) + Keel::engine work for consumers.
include(CMakePackageConfigHelpers)

install(TARGETS ${KEEL_LIBRARY_TARGETS} EXPORT KeelTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Public headers of each module folder; a folder without include/ has none yet.
foreach(dir base wire net journal engine workflow tools agent client cluster)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${dir}/include)
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endforeach()
install(EXPORT KeelTargets NAMESPACE Keel:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Keel)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/KeelConfig.cmake.in
  ${PROJECT_BINARY_DIR}/KeelConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Keel)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/KeelConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/KeelConfig.cmake ${PROJECT_BINARY_DIR}/KeelConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Keel)
