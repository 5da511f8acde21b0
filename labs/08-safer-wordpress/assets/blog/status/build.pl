#!/usr/bin/perl
# build.pl: the status site's generator. It turns each page in pages/*.txt
# into an HTML page with layout.html around it, and writes health.txt.
#
#   perl build.pl SRC OUT
#
# SRC is the directory that holds pages/ and layout.html; OUT receives the
# site (index.html, ..., health.txt), ready for any static web server.
#
# A page is plain text: the first line is its title; paragraphs are
# separated by an empty line; lines that start with "- " are a list.
use strict;
use warnings;
use POSIX qw(strftime);

my ($src, $out) = @ARGV;
die "usage: perl build.pl SRC OUT\n" unless defined $out;

sub slurp {
	my ($file) = @_;
	open(my $fh, '<', $file) or die "build.pl: cannot read $file: $!\n";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

sub spew {
	my ($file, $text) = @_;
	open(my $fh, '>', $file) or die "build.pl: cannot write $file: $!\n";
	print $fh $text;
	close $fh or die "build.pl: cannot write $file: $!\n";
}

sub esc {
	my ($s) = @_;
	$s =~ s/&/&amp;/g;
	$s =~ s/</&lt;/g;
	$s =~ s/>/&gt;/g;
	$s =~ s/"/&quot;/g;
	return $s;
}

my $layout = slurp("$src/layout.html");
my $built = strftime('%Y-%m-%d %H:%M:%S UTC', gmtime);
my @pages = sort glob("$src/pages/*.txt");
die "build.pl: no pages in $src/pages\n" unless @pages;
mkdir $out or die "build.pl: cannot create $out: $!\n" unless -d $out;

for my $page (@pages) {
	my ($name) = $page =~ m{([^/]+)\.txt$};
	my ($title, $rest) = split /\n/, slurp($page), 2;
	my $body = '';
	for my $block (split /\n\s*\n/, $rest // '') {
		next unless $block =~ /\S/;
		my @lines = split /\n/, $block;
		if (grep { /^- / } @lines) {
			$body .= "<ul>\n" . join('', map { '<li>' . esc(s/^- //r) . "</li>\n" } @lines) . "</ul>\n";
		} else {
			$body .= '<p>' . join("<br>\n", map { esc($_) } @lines) . "</p>\n";
		}
	}
	my $html = $layout;
	$html =~ s/\{\{title\}\}/esc($title)/ge;
	$html =~ s/\{\{body\}\}/$body/g;
	$html =~ s/\{\{built\}\}/$built/g;
	spew("$out/$name.html", $html);
	print "build.pl: wrote $name.html\n";
}
spew("$out/health.txt", "ok\n");
print "build.pl: wrote health.txt\n";
