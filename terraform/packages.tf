# The Lambda packages come from build.sh (dist/ at the repository root), never from Terraform itself:
# Pillow needs wheels for the Lambda architecture, which only build.sh knows how to fetch.
#
# A plan that would deploy a missing, partial or mismatched build fails before anything is created,
# through the preconditions on both aws_lambda_function resources (functions.tf), with the command to run.
# Every file read here is guarded (fileexists/try) so the problem is reported as that message, not as a
# function-call error, and `terraform validate` works without a build.

locals {
  package_dir     = can(regex("^(/|~)", var.package_dir)) ? pathexpand(var.package_dir) : trimprefix("${path.module}/${var.package_dir}", "./")
  build_info_file = "${local.package_dir}/build-info.json"
  build_info      = try(jsondecode(file(local.build_info_file)), null)

  package_files = {
    image_processor = "${local.package_dir}/image_processor.zip"
    db_writer       = "${local.package_dir}/db_writer.zip"
  }

  # build.sh writes to dist/ beside terraform/ unless given --out, so any other package_dir needs --out
  # (absolute: the command runs in the repository root, where a path relative to terraform/ would mislead).
  build_out     = abspath(local.package_dir) == abspath("${path.module}/../dist") ? "" : " --out ${abspath(local.package_dir)}"
  build_command = "./build.sh --arch ${var.lambda_architecture} --python ${trimprefix(var.lambda_runtime, "python")}${local.build_out}"
  built_for     = "${try(local.build_info.runtime, "?")}/${try(local.build_info.architecture, "?")}"

  # Each function's checks in order; the first that fails is the plan error (null: ready to deploy).
  package_checks = {
    for function, zip in local.package_files : function => [
      {
        ok      = fileexists(zip)
        message = "No Lambda package at ${zip}. Build the packages first: run `${local.build_command}` in the repository root, then plan again."
      },
      {
        ok      = local.build_info != null
        message = "${local.build_info_file} is missing or is not valid JSON, so the packages cannot be checked against lambda_runtime/lambda_architecture. Run `${local.build_command}` in the repository root, then plan again."
      },
      {
        ok      = try(local.build_info.runtime == var.lambda_runtime && local.build_info.architecture == var.lambda_architecture, false)
        message = "The packages in ${local.package_dir} were built for ${local.built_for}, but this stack deploys ${var.lambda_runtime}/${var.lambda_architecture}. Run `${local.build_command}` in the repository root (or set lambda_runtime/lambda_architecture to match the build), then plan again."
      },
      {
        ok      = try(lower(local.build_info.functions[function].sha256) == filesha256(zip), false)
        message = "${zip} is not the file described in ${local.build_info_file} (its sha256 differs: changed after the build?). Run `${local.build_command}` in the repository root, then plan again."
      },
    ]
  }
  package_errors = {
    for function, checks in local.package_checks : function => try([for check in checks : check.message if !check.ok][0], null)
  }

  package_hashes = {
    for function, zip in local.package_files : function => try(filebase64sha256(zip), null)
  }
}
