# Installing liboft_core for host applications, in three components of one prefix:
#   runtime  lib/liboft_core.so.<soversion> (+ bin/, lib/oft/plugins/ from their folders)
#   sdk      the SDK headers and the oftSDK package (sdk/CMakeLists.txt)
#   dev      the core headers, the liboft_core.so link and the `oft` package: find_package(oft) gives
#            oft::core (which brings oft::sdk, found in the same prefix)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(OFT_CORE_CMAKE_DIR lib/cmake/oft)
# lib/, not CMAKE_INSTALL_LIBDIR: the plugin folder and the installed binaries' RPATH are relative to it.
install(TARGETS oft_core EXPORT oftTargets
        LIBRARY DESTINATION lib COMPONENT runtime NAMELINK_COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT oftTargets NAMESPACE oft:: DESTINATION ${OFT_CORE_CMAKE_DIR} COMPONENT dev)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/oftConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/oftConfig.cmake
                              INSTALL_DESTINATION ${OFT_CORE_CMAKE_DIR})
# The same rule as the SOVERSION: while 0.x, only the same minor release is compatible.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_oft_compatibility SameMinorVersion)
else()
  set(_oft_compatibility SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/oftConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY ${_oft_compatibility})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/oftConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/oftConfigVersion.cmake
        DESTINATION ${OFT_CORE_CMAKE_DIR} COMPONENT dev)
