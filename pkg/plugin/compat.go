package plugin

// Names the command files of this package used before the shared layers
// moved into cmdutil, cluster, rotation and undofile. Each command package
// that moves out uses the layers directly; this file goes when the last
// one has moved.

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// Common is what every command gets from the root.
type Common = cmdutil.Env

type (
	DryRun      = cmdutil.DryRun
	AccessCheck = cmdutil.AccessCheck
	ExitError   = cmdutil.ExitError

	rotationRecord = rotation.Record
	rotationPass   = rotation.Pass
	rotationView   = rotation.View

	instructionsCAs       = rotation.CAs
	instructionsMirrorPod = cluster.MirrorPod

	UndoHeader = undofile.Header
	UndoChange = undofile.Change
	UndoWriter = undofile.Writer

	ClusterInfoStatus = cluster.ClusterInfoStatus
)

const (
	DryRunNone   = cmdutil.DryRunNone
	DryRunClient = cmdutil.DryRunClient
	DryRunServer = cmdutil.DryRunServer

	outputTable = cmdutil.OutputTable
	outputJSON  = cmdutil.OutputJSON
	outputYAML  = cmdutil.OutputYAML

	annotationNoNamespace = cmdutil.AnnotationNoNamespace
	fieldManager          = cmdutil.FieldManager

	rotationNamespace        = rotation.Namespace
	rotationConfigMap        = rotation.ConfigMapName
	rotationKeyRecord        = rotation.KeyRecord
	rotationKeyOldCA         = rotation.KeyOldCA
	rotationKeyNewCA         = rotation.KeyNewCA
	rotationKeyBundle        = rotation.KeyBundle
	rotationKeyOldFrontProxy = rotation.KeyOldFrontProxy
	rotationKeyNewFrontProxy = rotation.KeyNewFrontProxy
	rotationActive           = rotation.StateActive
	rotationFinished         = rotation.StateFinished
	rotationAborted          = rotation.StateAborted

	rootCAConfigMap               = cluster.RootCAConfigMap
	rootCAKey                     = cluster.RootCAKey
	controllerManagerFieldManager = cluster.ControllerManagerFieldManager
	rootCAPageSize                = cluster.PageSize
	statusExtensionAuth           = cluster.ExtensionAuthName
	verifyExtensionAuth           = cluster.ExtensionAuthName
	clusterInfoNamespace          = cluster.ClusterInfoNamespace
	clusterInfoName               = cluster.ClusterInfoName

	workloadPausedKey = undofile.WorkloadPausedKey
)

var (
	ParseDryRun          = cmdutil.ParseDryRun
	Preflight            = cmdutil.Preflight
	ExitCode             = cmdutil.ExitCode
	runOptions           = cmdutil.Run
	noNamespace          = cmdutil.NoNamespace
	addAllNamespacesFlag = cmdutil.AddAllNamespacesFlag
	addDryRunFlag        = cmdutil.AddDryRunFlag
	addUndoDirFlag       = cmdutil.AddUndoDirFlag
	addOutputFlag        = cmdutil.AddOutputFlag
	validateOutput       = cmdutil.ValidateOutput
	printStructured      = cmdutil.PrintStructured
	writeTable           = cmdutil.WriteTable
	completeFixed        = cmdutil.CompleteFixed
	completeList         = cmdutil.CompleteList
	readCertFile         = cmdutil.ReadCertFile
	reportFindings       = cmdutil.ReportFindings
	plural               = cmdutil.Plural
	statusOr             = cmdutil.Or
	statusSample         = cmdutil.Sample
	statusWords          = checks.StateWords
	rootCAUniq           = checks.Unique
	passResult           = rotation.Result

	WithRetry                      = cluster.WithRetry
	IsTransient                    = cluster.IsTransient
	requireNamespace               = cluster.RequireNamespace
	fetchServingChain              = cluster.FetchServingChain
	servingChainAddress            = cluster.ServingChainAddress
	servingCAMissing               = cluster.ServingCAMissing
	verifyDialChain                = cluster.DialChain
	chainVerifies                  = checks.ChainVerifies
	CheckClusterInfo               = cluster.CheckClusterInfo
	clusterInfoGet                 = cluster.GetClusterInfo
	clusterInfoTokens              = cluster.BootstrapTokens
	verifyCAChange                 = cluster.CAChange
	readRootCAState                = cluster.ReadRootCAState
	instructionsControlPlane       = cluster.ControlPlane
	apiserverStarted               = cluster.APIServerStarted
	verifyPodInput                 = cluster.PodInput
	statusPodStart                 = cluster.PodStart
	patchWorkload                  = cluster.PatchWorkload
	statusCloudControllerWorkloads = cluster.CloudControllerWorkloads
	statusServiceBackends          = cluster.ServiceBackends
	verifyShortError               = cluster.ShortError

	loadRotation           = rotation.Load
	rotationFromConfigMap  = rotation.FromConfigMap
	updateRotation         = rotation.Update
	appendPass             = rotation.AppendPass
	rotationNewID          = rotation.NewID
	rotationWhoAmI         = rotation.WhoAmI
	recordedRotation       = rotation.Recorded
	activeRotationID       = rotation.ActiveID
	undoDirFor             = rotation.UndoDir
	logPass                = rotation.LogPass
	errNoActiveRotation    = rotation.ErrNoActive
	rotationViewOf         = rotation.ViewOf
	startCertLine          = rotation.CertLine
	instructionsRotation   = rotation.Resolve
	instructionsLocalFile  = rotation.LocalFile
	instructionsExportNote = rotation.ExportNote
	rotationExportCommand  = rotation.ExportCommand

	CreateUndoFile            = undofile.Create
	ReadUndoFile              = undofile.Read
	rewriteUndoFile           = undofile.Rewrite
	DefaultUndoDir            = undofile.DefaultDir
	workloadAnnotationKey     = undofile.WorkloadAnnotationKey
	workloadAnnotationFromKey = undofile.WorkloadAnnotationFromKey
)

// namespaceScopeOf is cmdutil.NamespaceScope of options that may lack an
// Env (unit tests of Validate).
func namespaceScopeOf(c *Common, all bool) (string, error) {
	var f cmdutil.Factory
	if c != nil {
		f = c.Factory
	}
	return cmdutil.NamespaceScope(f, all)
}

// restartPages is the pager the command files used before cluster.Each;
// each command package that moves out uses cluster.Each instead.
func restartPages[L any](ctx context.Context, opts metav1.ListOptions, list func(context.Context, metav1.ListOptions) (L, string, error), each func(L), onRestart func()) error {
	opts.Limit = restartPageSize
	for {
		var page L
		var cont string
		err := WithRetry(ctx, func() (err error) {
			page, cont, err = list(ctx, opts)
			return err
		})
		if err != nil && opts.Continue != "" && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
			opts.Continue = ""
			onRestart()
			continue
		}
		if err != nil {
			return err
		}
		each(page)
		if cont == "" {
			return nil
		}
		opts.Continue = cont
	}
}
