package plugin

import "github.com/carotate/kubectl-carotate/pkg/plugin/cluster"

// restartPageSize is the page of compat.go's restartPages, which the
// commands still in this package use; it goes when compat.go goes.
const restartPageSize = cluster.PageSize
