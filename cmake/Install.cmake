# The installed package: `cmake --install build --prefix P` puts the headers
# (SparseAttn/..., sparse-attn-c/..., the generated .inc files), the
# libraries, sparse-attn-opt and P/lib/cmake/SparseAttn/SparseAttnConfig.cmake
# with the targets SparseAttn::<library> and SparseAttn::SparseAttnAll.
# docs/embedding.md shows a consumer; test/Integration/install-consumer.test
# builds one against a fresh install.
include(CMakePackageConfigHelpers)

set(SPARSE_ATTN_LIBRARIES
  SparseAttnIR
  SparseAttnUtils
  SparseAttnToLinalg
  SparseAttnToNVGPU
  SparseAttnTransforms
  SparseAttnPipelines
  SparseAttnTarget
  SparseAttnInitAll
  SparseAttnCAPI
  )

# Everything a tool needs: the dialect, passes, pipelines, the registration
# functions of SparseAttn/InitAll.h and the C API, with the include
# directories of the project and (SparseAttnConfig.cmake adds them) MLIR's.
add_library(SparseAttnAll INTERFACE)
target_link_libraries(SparseAttnAll INTERFACE ${SPARSE_ATTN_LIBRARIES})
target_include_directories(SparseAttnAll INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:include>)

# Installed binaries find libMLIR.so / libLLVM.so where they were linked
# from (Debian's are not on the loader's default path) and ours beside them.
set_target_properties(SparseAttnC PROPERTIES
  INSTALL_RPATH "\$ORIGIN;${LLVM_LIBRARY_DIR}")
set_target_properties(sparse-attn-opt PROPERTIES
  INSTALL_RPATH "\$ORIGIN/../lib;${LLVM_LIBRARY_DIR}")

install(TARGETS ${SPARSE_ATTN_LIBRARIES} SparseAttnAll SparseAttnC sparse-attn-opt
  EXPORT SparseAttnTargets
  ARCHIVE DESTINATION lib
  LIBRARY DESTINATION lib
  RUNTIME DESTINATION bin
  INCLUDES DESTINATION include)

install(DIRECTORY include/SparseAttn include/sparse-attn-c
  DESTINATION include
  COMPONENT sparse-attn-headers
  FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/SparseAttn
  DESTINATION include
  COMPONENT sparse-attn-headers
  FILES_MATCHING PATTERN "*.inc"
  PATTERN "CMakeFiles" EXCLUDE)

install(EXPORT SparseAttnTargets
  NAMESPACE SparseAttn::
  DESTINATION lib/cmake/SparseAttn)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/SparseAttnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/lib/cmake/SparseAttn/SparseAttnConfig.cmake
  INSTALL_DESTINATION lib/cmake/SparseAttn)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/lib/cmake/SparseAttn/SparseAttnConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/lib/cmake/SparseAttn/SparseAttnConfig.cmake
  ${PROJECT_BINARY_DIR}/lib/cmake/SparseAttn/SparseAttnConfigVersion.cmake
  DESTINATION lib/cmake/SparseAttn)
