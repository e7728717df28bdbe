terraform {
  # 1.6: `terraform test`, and lifecycle preconditions that stop a plan before anything is created.
  required_version = ">= 1.6"

  required_providers {
    # The only provider: the packages are zipped by build.sh, not by the archive provider, so the
    # stack also validates offline against the AWS provider schema alone.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
